# fuzz.cmake: libFuzzer targets for the checkpoint loader's parsers (included by CMakeLists.txt when
# -DREASONIR_FUZZ=ON). Each target links only the loader sources (json, safetensors, config, tensor_names, weight_scan,
# parallel, checkpoint), not the whole engine, so the compute backends never have to build under the fuzzing flags.
#
#   cmake -S . -B build-fuzz -DREASONIR_FUZZ=ON -DREASONIR_TESTS=OFF \
#         -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14
#   cmake --build build-fuzz --target fuzz -j2
#   native/fuzz/run_fuzz.sh build-fuzz 60
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "REASONIR_FUZZ=ON needs clang (libFuzzer, -fsanitize=fuzzer), but the C++ compiler is "
    "${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}). Configure a separate build directory with "
    "-DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 (Debian: apt-get install clang-14 libclang-rt-14-dev).")
endif()

set(REASONIR_FUZZ_DIR ${CMAKE_SOURCE_DIR}/native/fuzz)
set(REASONIR_LOADER_SOURCES
  ${CMAKE_SOURCE_DIR}/native/src/json.cpp
  ${CMAKE_SOURCE_DIR}/native/src/safetensors.cpp
  ${CMAKE_SOURCE_DIR}/native/src/config.cpp
  ${CMAKE_SOURCE_DIR}/native/src/tensor_names.cpp
  ${CMAKE_SOURCE_DIR}/native/src/weight_scan.cpp
  ${CMAKE_SOURCE_DIR}/native/src/parallel.cpp
  ${CMAKE_SOURCE_DIR}/native/src/checkpoint.cpp)
# UBSan findings abort (become crashes) instead of printing and continuing.
set(REASONIR_FUZZ_COMPILE_FLAGS -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
  -fno-sanitize-recover=all)
set(REASONIR_FUZZ_LINK_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)

# The loader sources, instrumented once and shared by every target.
add_library(reasonir_loader_fuzz STATIC ${REASONIR_LOADER_SOURCES})
target_include_directories(reasonir_loader_fuzz PUBLIC ${CMAKE_SOURCE_DIR}/native/include ${CMAKE_SOURCE_DIR}/native/src)
target_compile_options(reasonir_loader_fuzz PRIVATE ${REASONIR_FUZZ_COMPILE_FLAGS})

set(REASONIR_FUZZ_TARGETS fuzz_safetensors fuzz_json_config fuzz_index)
foreach(name ${REASONIR_FUZZ_TARGETS})
  add_executable(${name} ${REASONIR_FUZZ_DIR}/${name}.cpp)
  target_compile_options(${name} PRIVATE ${REASONIR_FUZZ_COMPILE_FLAGS})
  target_link_options(${name} PRIVATE ${REASONIR_FUZZ_LINK_FLAGS})
  target_link_libraries(${name} PRIVATE reasonir_loader_fuzz)
endforeach()

# `cmake --build <dir> --target fuzz` builds just the fuzzers (not the engine).
add_custom_target(fuzz DEPENDS ${REASONIR_FUZZ_TARGETS})
