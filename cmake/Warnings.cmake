# Warning and sanitizer flags, carried by the INTERFACE target ct_build_options that every
# cellthread target links, so one place decides how the whole tree is compiled.
add_library(ct_build_options INTERFACE)
target_compile_options(ct_build_options INTERFACE
  -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
  -Wpointer-arith -Wcast-align -Wwrite-strings -Wvla -Wundef -Wnull-dereference
  -Wimplicit-fallthrough -fno-common)
target_compile_definitions(ct_build_options INTERFACE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
if(CT_WERROR)
  target_compile_options(ct_build_options INTERFACE -Werror)
endif()
if(CT_SANITIZE)
  target_compile_options(ct_build_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(ct_build_options INTERFACE -fsanitize=address,undefined)
endif()

# Generated protobuf-c code is compiled without our extra warnings: it is not ours to fix.
add_library(ct_generated_options INTERFACE)
target_compile_options(ct_generated_options INTERFACE -w)
