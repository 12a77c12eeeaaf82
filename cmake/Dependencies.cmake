# Finds every third-party dependency in the one order that works with pip LibTorch (../shared/gpu/README.md):
#  1. system protobuf first: TorchConfig defines its own protobuf::libprotobuf target otherwise; we link the
#     system library by path (${Protobuf_LIBRARIES}) wherever it matters;
#  2. torch ships fmt v12 headers, the system spdlog needs the system fmt: a shim folder of symlinks put BEFORE
#     torch's include directory makes <fmt/...> and <spdlog/...> resolve to the system copies;
#  3. NCCL: the libnccl.so.2 torch loads (pip nvidia-nccl), not a system one.
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
find_package(yaml-cpp REQUIRED)
# yaml-cpp 0.8 exports yaml-cpp::yaml-cpp, 0.7 (Debian 12) plain yaml-cpp.
if(TARGET yaml-cpp::yaml-cpp)
  set(DSRL_YAML_TARGET yaml-cpp::yaml-cpp)
else()
  set(DSRL_YAML_TARGET yaml-cpp)
endif()
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(MPI REQUIRED COMPONENTS CXX)
# nlohmann/json (header-only): the Debian package, or a folder holding nlohmann/json.hpp (the GPU machine).
find_package(nlohmann_json QUIET)
if(NOT TARGET nlohmann_json::nlohmann_json)
  find_path(DSRL_JSON_INCLUDE nlohmann/json.hpp HINTS ${DSRL_JSON_INCLUDE_DIR} REQUIRED)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  target_include_directories(nlohmann_json::nlohmann_json INTERFACE ${DSRL_JSON_INCLUDE})
endif()

# LibTorch from the pip wheel, unless the caller already put it on CMAKE_PREFIX_PATH.
if(NOT Torch_DIR)
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
  execute_process(COMMAND ${Python3_EXECUTABLE} -c "import torch; print(torch.utils.cmake_prefix_path)"
                  OUTPUT_VARIABLE DSRL_TORCH_PREFIX OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "python3 cannot import torch: run scripts/install-deps.sh (pip torch==2.11.0)")
  endif()
  list(APPEND CMAKE_PREFIX_PATH ${DSRL_TORCH_PREFIX})
endif()
if(DSRL_CUDA)
  if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(ENV{TORCH_CUDA_ARCH_LIST} "9.0a")   # torch's CMake ignores CMAKE_CUDA_ARCHITECTURES
  endif()
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90a)
  endif()
  enable_language(CUDA)
else()
  # A CUDA build of torch on a machine without a GPU: Caffe2's CUDA detection still runs; keep it quiet.
  set(CAFFE2_USE_CUDNN OFF)
endif()
find_package(Torch REQUIRED)
# TORCH_CXX_FLAGS carries -D_GLIBCXX_USE_CXX11_ABI; put it only on torch targets (dsrl_torch_flags).
# Trap 4 (found here): the pip wheel's libtorch.so and libtorch_cpu.so export their own copies of std::filesystem
# (remove_all, recursive_directory_iterator, ...), which crash when our code binds to them. The linker resolves a
# symbol with the first library on the line that defines it, so libstdc++ goes right before torch: with a shared
# libstdc++ it is NEEDED (and searched) first, with a static one (the GPU machine's toolchain) its members are
# pulled in for our references before libtorch is seen. TorchLinkedFilesystem in tests/model checks it.
add_library(dsrl_torch INTERFACE)
target_link_libraries(dsrl_torch INTERFACE "-Wl,--push-state,--no-as-needed" "-lstdc++" "-Wl,--pop-state"
                      ${TORCH_LIBRARIES})

set(DSRL_SHIM_DIR ${CMAKE_BINARY_DIR}/include-shim)
get_filename_component(DSRL_TORCH_INCLUDE "${TORCH_INSTALL_PREFIX}/include" ABSOLUTE)
if(EXISTS "${DSRL_TORCH_INCLUDE}/fmt")
  find_path(DSRL_FMT_INCLUDE fmt/format.h PATHS /usr/include NO_DEFAULT_PATH)
  find_path(DSRL_SPDLOG_INCLUDE spdlog/spdlog.h PATHS /usr/include NO_DEFAULT_PATH)
  file(MAKE_DIRECTORY ${DSRL_SHIM_DIR})
  file(CREATE_LINK ${DSRL_FMT_INCLUDE}/fmt ${DSRL_SHIM_DIR}/fmt SYMBOLIC)
  file(CREATE_LINK ${DSRL_SPDLOG_INCLUDE}/spdlog ${DSRL_SHIM_DIR}/spdlog SYMBOLIC)
  include_directories(BEFORE SYSTEM ${DSRL_SHIM_DIR})
endif()

if(DSRL_CUDA)
  find_package(CUDAToolkit REQUIRED)
  if(NOT NCCL_ROOT)
    execute_process(COMMAND ${Python3_EXECUTABLE} -c "import nvidia.nccl; print(list(nvidia.nccl.__path__)[0])"
                    OUTPUT_VARIABLE NCCL_ROOT OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${NCCL_ROOT}/include REQUIRED)
  find_library(NCCL_LIBRARY NAMES libnccl.so.2 nccl NAMES_PER_DIR HINTS ${NCCL_ROOT}/lib REQUIRED)
  add_library(dsrl_nccl INTERFACE)
  target_include_directories(dsrl_nccl INTERFACE ${NCCL_INCLUDE_DIR})
  target_link_libraries(dsrl_nccl INTERFACE ${NCCL_LIBRARY})
  message(STATUS "dsrl: NCCL ${NCCL_LIBRARY}")
endif()

# Every library's includes are rooted at the repository: #include "common/error.h".
include_directories(${CMAKE_SOURCE_DIR})

# dsrl_library(name SOURCES ... DEPS ...): one static library per folder.
function(dsrl_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>)
endfunction()
