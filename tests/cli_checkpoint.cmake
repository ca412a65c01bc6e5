# Bad checkpoints on the command line: derive, visualize, search --resume, test and train --resume
# refuse a checkpoint with empty or non-finite alphas, non-finite weights or wrongly typed options
# with exactly one line on stderr naming the file and what is wrong, and exit code 2. The bad files
# are copies of a tiny search's and a tiny training run's checkpoints with one thing changed by
# tests/tools/edit_checkpoint.cpp. Run by CTest as the `cli_checkpoint` test:
#   cmake -DCUDARTS=<cudarts> -DEDIT=<edit_checkpoint> -DWORK=<scratch dir> -P tests/cli_checkpoint.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

include("${CMAKE_CURRENT_LIST_DIR}/cli_common.cmake")

# Writes `out`, a copy of checkpoint `in` with one edit (see tests/tools/edit_checkpoint.cpp).
function(edit in out)
  get_filename_component(dir "${out}" DIRECTORY)
  file(MAKE_DIRECTORY "${dir}")
  execute_process(COMMAND "${EDIT}" "${in}" "${out}" ${ARGN} RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "edit_checkpoint ${in} ${out} ${ARGN}: exit ${rc}: ${err}")
  endif()
endfunction()

# Writes a copy of checkpoint `in` with one edit (the arguments after `message`) and checks that
# `how` refuses it with exit 2 and one line naming the copy and `message`. For derive and test the
# copy is ${WORK}/<name>.safetensors, read with --checkpoint (test adds ${testflags}); for search
# and train it is ${WORK}/<name>/checkpoint.safetensors, resumed with --resume for 2 epochs.
function(expect_refused how in name message)
  if(how STREQUAL "derive" OR how STREQUAL "test")
    set(file "${name}.safetensors")
    set(args --checkpoint "${WORK}/${file}")
    if(how STREQUAL "test")
      list(APPEND args ${testflags})
    endif()
  else()
    set(file "${name}/checkpoint.safetensors")
    set(args --resume "${WORK}/${name}" --epochs 2 --device cpu)
  endif()
  edit("${in}" "${WORK}/${file}" ${ARGN})
  expect_exit(2 "${file}: ${message}" ${how} ${args})
endfunction()

# ----- a search checkpoint: alphas_normal and alphas_reduce are F32 [5, 8] (2 nodes) -----
set(tiny --dataset synthetic --subset 64 --layers 2 --init-channels 4 --nodes 2 --batch-size 16
         --device cpu)
expect_exit(0 "" search ${tiny} --epochs 1 --out "${WORK}/search")
set(good "${WORK}/search/checkpoint.safetensors")

# Non-finite alphas: named with the first bad row and column (element 11 = row 1, column 3).
expect_refused(derive "${good}" nan "'alphas_normal' holds nan at row 1, column 3"
               value alphas_normal 11 nan)
expect_refused(derive "${good}" inf "'alphas_reduce' holds -inf at row 4, column 7"
               value alphas_reduce 39 -inf)
expect_exit(2 "nan.safetensors: 'alphas_normal' holds nan at row 1, column 3"
            visualize --metrics "${WORK}/search/metrics.jsonl"
            --checkpoint "${WORK}/nan.safetensors" --out "${WORK}/viz")

# Empty alphas: no rows, or no columns.
expect_refused(derive "${good}" rows0
               "'alphas_reduce' is F32 [0, 8], expected F32 [5, 8] (not empty"
               shape alphas_reduce 0,8)
expect_refused(derive "${good}" cols0
               "'alphas_normal' is F32 [5, 0], expected F32 [5, 8] (not empty"
               shape alphas_normal 5,0)
# Without options (a PyTorch export, say) the rows give the nodes and the columns default to 8.
edit("${good}" "${WORK}/plain.safetensors" drop options)
expect_exit(0 "" derive --checkpoint "${WORK}/plain.safetensors")
expect_refused(derive "${WORK}/plain.safetensors" plain-rows0
               "'alphas_normal' is F32 [0, 8], expected F32 [edges, 8] (not empty"
               shape alphas_normal 0,8)

# Wrongly typed options: the key and what was expected.
foreach(case "layers;\"eight\";'layers' is \"eight\", expected an integer"
             "primitives;5;'primitives' is 5, expected a list of strings"
             "order;\"x\";'order' is \"x\", expected an integer"
             "seed;-1;'seed' is -1, expected a non-negative integer"
             "flip;1;'flip' is 1, expected true or false")
  list(GET case 0 key)
  list(GET case 1 value)
  list(GET case 2 message)
  expect_refused(derive "${good}" type-${key} "metadata 'options': ${message}"
                 option ${key} "${value}")
endforeach()
# Options that are not bounded JSON.
string(REPEAT "[" 100 deep)
expect_refused(derive "${good}" deep "metadata 'options' nests deeper than 64 levels"
               meta options "${deep}")
expect_refused(derive "${good}" huge "metadata 'options' holds a number out of range"
               meta options "{\"layers\": 1e999}")

# A resumed search refuses the same, and non-finite weights and buffers too.
expect_refused(search "${good}" resume-nan "'alphas_normal' holds nan at row 1, column 3"
               value alphas_normal 11 nan)
expect_refused(search "${good}" resume-empty
               "'alphas_reduce' is F32 [0, 8], expected F32 [5, 8] (not empty"
               shape alphas_reduce 0,8)
expect_refused(search "${good}" resume-weight "'stem.0.weight' holds inf at element 7"
               value stem.0.weight 7 inf)
expect_refused(search "${good}" resume-type
               "metadata 'options': 'layers' is \"eight\", expected an integer"
               option layers "\"eight\"")
expect_refused(search "${good}" resume-seed
               "metadata 'options': 'seed' is -1, expected a non-negative integer"
               option seed -1)
expect_exit(0 "" search --resume "${WORK}/search" --epochs 2 --device cpu)

# ----- a training checkpoint: test and train --resume refuse non-finite weights and buffers -----
set(tinytrain --dataset synthetic --subset 64 --layers 3 --init-channels 4 --batch-size 16
              --device cpu)
expect_exit(0 "" train ${tinytrain} --epochs 1 --auxiliary=false --out "${WORK}/train")
set(trained "${WORK}/train/checkpoint.safetensors")
set(testflags --dataset synthetic --subset 64 --device cpu)
expect_refused(test "${trained}" weight-nan "'stem.0.weight' holds nan at element 5"
               value stem.0.weight 5 nan)
expect_refused(test "${trained}" buffer-inf "'stem.1.running_var' holds -inf at element 2"
               value stem.1.running_var 2 -inf)
expect_refused(test "${trained}" train-type
               "metadata 'options': 'layers' is \"x\", expected an integer"
               option layers "\"x\"")
expect_refused(train "${trained}" train-nan "'stem.1.running_var' holds nan at element 2"
               value stem.1.running_var 2 nan)
expect_refused(train "${trained}" train-epochs
               "metadata 'options': 'epochs' is \"x\", expected an integer"
               option epochs "\"x\"")
expect_exit(0 "" test --checkpoint "${trained}" ${testflags})
