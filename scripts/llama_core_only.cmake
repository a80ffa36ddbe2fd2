# Ponder uses llama.cpp's core library only (through llama-cpp-python's ctypes bindings), so
# scripts/install.sh leaves llama.cpp's "common" helpers out of the build, and with them the
# HTTP client they link (cpp-httplib): llama-cpp-python's CMakeLists forces them on before it
# adds llama.cpp, and nothing it installs into its package loads them. CMake runs this file at
# the end of llama.cpp's project() call (CMAKE_PROJECT_llama.cpp_INCLUDE), after that forcing
# and before llama.cpp reads its options.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama: build common utils library" FORCE)
