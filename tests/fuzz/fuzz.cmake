# The libFuzzer targets (tests/fuzz/README.md), built only with -DCUDARTS_FUZZ=ON by clang, in a
# build directory of their own (build-fuzz). Included from the top CMakeLists.txt after the
# sanitizer flags are set for every source, so the layers the targets link are instrumented too.
set(fuzz_dir "${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz")
# The genotype parser reads the primitive table, whose rows carry the ops' builders, so the
# targets link the model layer (and below it the data and engine layers) as the product does;
# Katib's formats live with the apps and are compiled in here.
add_library(cudarts_fuzz_parsers STATIC apps/katib.cpp)
target_include_directories(cudarts_fuzz_parsers PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(cudarts_fuzz_parsers PUBLIC cudarts_models cudarts_data)
cudarts_warnings(cudarts_fuzz_parsers)

# Seconds each target runs under ctest; CI runs the targets two at a time.
set(CUDARTS_FUZZ_SECONDS 15 CACHE STRING "Seconds each fuzz target runs under ctest")
set(fuzz_targets safetensors genotype_darts genotype_katib genotype_json katib_settings
    katib_search_space cifar idx_plain idx_gz jpeg png)
add_custom_target(fuzz)
foreach(t IN LISTS fuzz_targets)
  add_executable(fuzz_${t} ${fuzz_dir}/fuzz_${t}.cpp)
  target_link_libraries(fuzz_${t} PRIVATE cudarts_fuzz_parsers)
  target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  cudarts_warnings(fuzz_${t})
  add_dependencies(fuzz fuzz_${t})
  # New inputs go to a work corpus in the build tree; the seeds and the kept regression inputs
  # are read, replayed first, and never written.
  set(work "${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus/${t}")
  file(MAKE_DIRECTORY "${work}")
  set(dirs "${work}" "${fuzz_dir}/corpus/${t}")
  if(EXISTS "${fuzz_dir}/regressions/${t}")
    list(APPEND dirs "${fuzz_dir}/regressions/${t}")
  endif()
  add_test(NAME fuzz_${t}
           COMMAND fuzz_${t} -max_total_time=${CUDARTS_FUZZ_SECONDS} -timeout=10
                   -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1
                   -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/fuzz-artifacts-${t}- ${dirs})
  set_tests_properties(fuzz_${t} PROPERTIES LABELS fuzz
                       TIMEOUT 120)
endforeach()
