# The SIMT emulator build (CUDARTS_SIMT=ON, included from the top-level CMakeLists.txt): the
# emulator runtime library, the rewrite tool, and cudarts_simt_sources(), which adds a
# directory's *.cu files to a target as rewritten C++ compiled with the forced-include header.
find_package(Boost 1.74 REQUIRED COMPONENTS context)
find_package(Threads REQUIRED)

set(CUDARTS_SIMT_DIR ${CMAKE_CURRENT_LIST_DIR})
add_executable(simt_rewrite ${CUDARTS_SIMT_DIR}/rewrite.cpp)
cudarts_warnings(simt_rewrite)

add_library(cudarts_simt STATIC ${CUDARTS_SIMT_DIR}/runtime.cpp ${CUDARTS_SIMT_DIR}/cublas.cpp)
target_include_directories(cudarts_simt PUBLIC ${CUDARTS_SIMT_DIR}/include)
target_link_libraries(cudarts_simt PUBLIC Boost::context Threads::Threads)
target_compile_options(cudarts_simt PRIVATE -ffp-contract=off)
cudarts_warnings(cudarts_simt)

target_compile_definitions(cudarts_kernels PUBLIC CUDARTS_HAS_CUDA=1 CUDARTS_SIMT=1)
target_link_libraries(cudarts_kernels PUBLIC cudarts_simt)

# Each DIR/*.cu becomes BINARY_DIR/simt/<relative path>.cpp (same lines, launches rewritten) and
# is compiled into TARGET with simt/simt.h included first and without FMA contraction.
function(cudarts_simt_sources target dir)
  file(GLOB cus CONFIGURE_DEPENDS "${dir}/*.cu")
  foreach(cu IN LISTS cus)
    file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${cu})
    set(out ${CMAKE_BINARY_DIR}/simt/${rel}.cpp)
    add_custom_command(OUTPUT ${out}
                       COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/simt
                       COMMAND simt_rewrite ${cu} ${out}
                       DEPENDS simt_rewrite ${cu}
                       COMMENT "simt: rewriting ${rel}" VERBATIM)
    get_filename_component(out_dir ${out} DIRECTORY)
    file(MAKE_DIRECTORY ${out_dir})
    set_source_files_properties(${out} PROPERTIES COMPILE_OPTIONS
      "-include;${CUDARTS_SIMT_DIR}/include/simt/simt.h;-ffp-contract=off;-Wno-unknown-pragmas")
    target_sources(${target} PRIVATE ${out})
  endforeach()
endfunction()
