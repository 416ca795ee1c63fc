# Warning and sanitizer flags, carried by the INTERFACE target ct_build_options that every
# cellthread target links, so one place decides how the whole tree is compiled.
# ct_warning_options is its warnings alone, for the one target loaded into a program that is
# not ours (the broker plugin: Mosquitto is not built with the sanitizers' runtime).
add_library(ct_warning_options INTERFACE)
target_compile_options(ct_warning_options INTERFACE
  -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
  -Wpointer-arith -Wcast-align -Wwrite-strings -Wvla -Wundef -Wnull-dereference
  -Wimplicit-fallthrough -fno-common)
target_compile_definitions(ct_warning_options INTERFACE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
if(CT_WERROR)
  target_compile_options(ct_warning_options INTERFACE -Werror)
endif()
add_library(ct_build_options INTERFACE)
target_link_libraries(ct_build_options INTERFACE ct_warning_options)
if(CT_SANITIZE)
  target_compile_options(ct_build_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(ct_build_options INTERFACE -fsanitize=address,undefined)
endif()

# CT_FUZZ: libFuzzer builds (tests/fuzz/README.md). Every cellthread target is compiled with
# coverage instrumentation (fuzzer-no-link) and the sanitizers, so the fuzzer sees the edges
# of the code under test, not only of its harness; only the fuzz binaries link libFuzzer
# itself (-fsanitize=fuzzer, in tests/fuzz/CMakeLists.txt). Needs clang: CC=clang. Services
# and other tests still link (the sanitizer runtime carries the coverage callbacks).
option(CT_FUZZ "Build libFuzzer targets and instrument the tree for them (needs clang)" OFF)
if(CT_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "CT_FUZZ=ON needs clang (configure with CC=clang)")
  endif()
  target_compile_options(ct_build_options INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer)
  target_link_options(ct_build_options INTERFACE -fsanitize=address,undefined)
endif()

# Generated protobuf-c code is compiled without our extra warnings: it is not ours to fix.
add_library(ct_generated_options INTERFACE)
target_compile_options(ct_generated_options INTERFACE -w)
