# gpu.cmake: the GPU backend behind kernels/gpu.h, linked into gemma4_engine:
#   G4_CUDA  kernels/cuda/*.cu with nvcc (CUDA language), cuBLAS for large products;
#   G4_HIP   the same sources with hipcc through kernels/hip/cuda_to_hip.h, our own
#            matrix-product kernels (Debian has no hipBLAS);
#   G4_GPU_EMU  the same sources as C++ on the CPU (tests/gpu/emu): an emulated GPU
#            that runs the kernels' threads as coroutines, for tests without a GPU;
#   neither  kernels/gpu_none.c: no device, and g4g_open says how to get one.
option(G4_GPU_EMU "Build the CUDA kernels for an emulated GPU on the CPU (tests/gpu/emu)" OFF)
if(G4_GPU_EMU)
  if(G4_HIP)
    message(FATAL_ERROR "G4_GPU_EMU and G4_HIP exclude each other: choose one GPU backend")
  endif()
  set(G4_CUDA OFF CACHE BOOL "Build the CUDA backend (kernels/cuda)" FORCE)
endif()
file(GLOB G4_GPU_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/cuda/*.cu)
if(G4_CUDA)
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    # Ampere (A100), Ada (L40, RTX 40xx), Hopper (H100/H200); and PTX for newer ones.
    set(CMAKE_CUDA_ARCHITECTURES "80-real;89-real;90-real;90-virtual")
  endif()
  enable_language(CUDA)
  # gemma4_engine was made before the default was set; later targets take it from the variable.
  set_target_properties(gemma4_engine PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
  find_package(CUDAToolkit REQUIRED)
  add_library(gemma4_gpu STATIC ${G4_GPU_SOURCES})
  set_target_properties(gemma4_gpu PROPERTIES CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON
    POSITION_INDEPENDENT_CODE ON CUDA_SEPARABLE_COMPILATION OFF)
  target_include_directories(gemma4_gpu PRIVATE ${PROJECT_SOURCE_DIR}/engine ${PROJECT_SOURCE_DIR}/kernels)
  # The C flags (-Wshadow, -march) are not nvcc's: give it its own.
  target_compile_options(gemma4_gpu PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-O3 -ftz=false -prec-div=true -prec-sqrt=true -Xcompiler=-Wall,-Wextra,-Wno-unused-parameter --Werror=all-warnings>)
  target_link_libraries(gemma4_gpu PUBLIC CUDA::cudart_static CUDA::cublas)
  target_link_libraries(gemma4_engine PUBLIC gemma4_gpu)
  target_compile_definitions(gemma4_engine PUBLIC G4_HAVE_GPU=1)
elseif(G4_HIP)
  find_program(G4_HIPCC hipcc REQUIRED)
  set(G4_HIP_ARCHS "gfx90a;gfx1030" CACHE STRING "AMD GPU architectures for hipcc (--offload-arch)")
  set(G4_HIP_FLAGS -x hip -std=c++17 -O3 -fPIC -DG4_HIP=1 -Wall -Wextra -Wno-unused-parameter -Werror
    -I${PROJECT_SOURCE_DIR}/engine -I${PROJECT_SOURCE_DIR}/kernels)
  foreach(arch ${G4_HIP_ARCHS})
    list(APPEND G4_HIP_FLAGS --offload-arch=${arch})
  endforeach()
  set(G4_HIP_OBJECTS "")
  file(GLOB G4_GPU_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/cuda/*.cuh
    ${PROJECT_SOURCE_DIR}/kernels/hip/*.h ${PROJECT_SOURCE_DIR}/kernels/gpu.h ${PROJECT_SOURCE_DIR}/kernels/backend.h)
  foreach(src ${G4_GPU_SOURCES})
    get_filename_component(name ${src} NAME_WE)
    set(obj ${CMAKE_BINARY_DIR}/hip/${name}.o)
    add_custom_command(OUTPUT ${obj}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/hip
      COMMAND ${G4_HIPCC} ${G4_HIP_FLAGS} -c ${src} -o ${obj}
      DEPENDS ${src} ${G4_GPU_HEADERS}
      COMMENT "hipcc ${name}.cu" VERBATIM)
    list(APPEND G4_HIP_OBJECTS ${obj})
  endforeach()
  add_library(gemma4_gpu STATIC ${G4_HIP_OBJECTS})
  set_target_properties(gemma4_gpu PROPERTIES LINKER_LANGUAGE C)
  find_library(G4_AMDHIP64 amdhip64 REQUIRED)
  target_link_libraries(gemma4_gpu PUBLIC ${G4_AMDHIP64} stdc++)
  target_link_libraries(gemma4_engine PUBLIC gemma4_gpu)
  target_compile_definitions(gemma4_engine PUBLIC G4_HAVE_GPU=1)
elseif(G4_GPU_EMU)
  # tests/gpu/emu/rewrite.py turns launches and extern __shared__ arrays into C++
  # (into the build folder, line numbers kept); the emulator's headers stand in for
  # cuda_runtime.h, cublas_v2.h and cuda_bf16.h, and __CUDA_ARCH__ selects the
  # kernels' device code paths. No contraction: the _rn intrinsics stay separate
  # roundings, as on the GPU.
  enable_language(CXX)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  set(G4_EMU_DIR ${PROJECT_SOURCE_DIR}/tests/gpu/emu)
  set(G4_EMU_GEN ${CMAKE_BINARY_DIR}/emu)
  file(GLOB G4_GPU_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/cuda/*.cuh)
  set(G4_EMU_OUTPUTS "")
  foreach(src ${G4_GPU_SOURCES} ${G4_GPU_HEADERS})
    get_filename_component(name ${src} NAME)
    string(REGEX REPLACE "\\.cu$" ".cpp" name ${name})
    list(APPEND G4_EMU_OUTPUTS ${G4_EMU_GEN}/${name})
  endforeach()
  add_custom_command(OUTPUT ${G4_EMU_OUTPUTS}
    COMMAND Python3::Interpreter ${G4_EMU_DIR}/rewrite.py ${G4_EMU_GEN} ${G4_GPU_SOURCES} ${G4_GPU_HEADERS}
    DEPENDS ${G4_EMU_DIR}/rewrite.py ${G4_GPU_SOURCES} ${G4_GPU_HEADERS}
    COMMENT "Rewriting kernels/cuda for the emulated GPU" VERBATIM)
  list(FILTER G4_EMU_OUTPUTS INCLUDE REGEX "\\.cpp$")
  file(GLOB G4_EMU_SOURCES CONFIGURE_DEPENDS ${G4_EMU_DIR}/*.cpp)
  add_library(gemma4_gpu STATIC ${G4_EMU_OUTPUTS} ${G4_EMU_SOURCES})
  set_target_properties(gemma4_gpu PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
    POSITION_INDEPENDENT_CODE ON)
  target_include_directories(gemma4_gpu BEFORE PRIVATE ${G4_EMU_DIR})
  target_include_directories(gemma4_gpu PRIVATE ${PROJECT_SOURCE_DIR}/engine ${PROJECT_SOURCE_DIR}/kernels)
  target_compile_definitions(gemma4_gpu PRIVATE G4_GPU_EMU=1 __CUDA_ARCH__=900)
  set(G4_EMU_FLAGS -ffp-contract=off -fno-strict-aliasing -Wall -Wextra -Wno-unused-parameter -Wno-unknown-pragmas)
  if(G4_WERROR)
    list(APPEND G4_EMU_FLAGS -Werror)
  endif()
  if(CMAKE_BUILD_TYPE STREQUAL "Release")
    list(APPEND G4_EMU_FLAGS -O2 -march=native)
  endif()
  target_compile_options(gemma4_gpu PRIVATE ${G4_EMU_FLAGS})
  target_link_libraries(gemma4_gpu PUBLIC Threads::Threads)
  target_link_libraries(gemma4_engine PUBLIC gemma4_gpu)
  target_compile_definitions(gemma4_engine PUBLIC G4_HAVE_GPU=1)
else()
  target_sources(gemma4_engine PRIVATE ${PROJECT_SOURCE_DIR}/kernels/gpu_none.c)
endif()
