# gpu.cmake: the GPU backend behind kernels/gpu.h, linked into gemma4_engine:
#   G4_CUDA  kernels/cuda/*.cu with nvcc (CUDA language), cuBLAS for large products;
#   G4_HIP   the same sources with hipcc through kernels/hip/cuda_to_hip.h, our own
#            matrix-product kernels (Debian has no hipBLAS);
#   neither  kernels/gpu_none.c: no device, and g4g_open says how to get one.
file(GLOB G4_GPU_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/cuda/*.cu)
if(G4_CUDA)
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    # Ampere (A100), Ada (L40, RTX 40xx), Hopper (H100/H200); and PTX for newer ones.
    set(CMAKE_CUDA_ARCHITECTURES "80-real;89-real;90-real;90-virtual")
  endif()
  enable_language(CUDA)
  # gemma4_engine was made before the default above existed; it links CUDA code.
  set_property(TARGET gemma4_engine PROPERTY CUDA_ARCHITECTURES ${CMAKE_CUDA_ARCHITECTURES})
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
else()
  target_sources(gemma4_engine PRIVATE ${PROJECT_SOURCE_DIR}/kernels/gpu_none.c)
endif()
