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

# ----- a search checkpoint: alphas_normal and alphas_reduce are F32 [5, 8] (2 nodes) -----
set(tiny --dataset synthetic --subset 64 --layers 2 --init-channels 4 --nodes 2 --batch-size 16
         --device cpu)
expect_exit(0 "" search ${tiny} --epochs 1 --out "${WORK}/search")
set(good "${WORK}/search/checkpoint.safetensors")

# Non-finite alphas: named with the first bad row and column (element 11 = row 1, column 3).
edit("${good}" "${WORK}/nan.safetensors" value alphas_normal 11 nan)
expect_exit(2 "nan.safetensors: 'alphas_normal' holds nan at row 1, column 3"
            derive --checkpoint "${WORK}/nan.safetensors")
edit("${good}" "${WORK}/inf.safetensors" value alphas_reduce 39 -inf)
expect_exit(2 "inf.safetensors: 'alphas_reduce' holds -inf at row 4, column 7"
            derive --checkpoint "${WORK}/inf.safetensors")
expect_exit(2 "nan.safetensors: 'alphas_normal' holds nan at row 1, column 3"
            visualize --metrics "${WORK}/search/metrics.jsonl"
            --checkpoint "${WORK}/nan.safetensors" --out "${WORK}/viz")

# Empty alphas: no rows, or no columns.
edit("${good}" "${WORK}/rows0.safetensors" shape alphas_reduce 0,8)
expect_exit(2 "rows0.safetensors: 'alphas_reduce' is F32 [0, 8], expected F32 [5, 8] (not empty"
            derive --checkpoint "${WORK}/rows0.safetensors")
edit("${good}" "${WORK}/cols0.safetensors" shape alphas_normal 5,0)
expect_exit(2 "cols0.safetensors: 'alphas_normal' is F32 [5, 0], expected F32 [5, 8] (not empty"
            derive --checkpoint "${WORK}/cols0.safetensors")
# Without options (a PyTorch export, say) the rows give the nodes and the columns default to 8.
edit("${good}" "${WORK}/plain.safetensors" drop options)
expect_exit(0 "" derive --checkpoint "${WORK}/plain.safetensors")
edit("${WORK}/plain.safetensors" "${WORK}/plain-rows0.safetensors" shape alphas_normal 0,8)
expect_exit(2 "plain-rows0.safetensors: 'alphas_normal' is F32 [0, 8], expected F32 [edges, 8] (not empty"
            derive --checkpoint "${WORK}/plain-rows0.safetensors")

# Wrongly typed options: the key and what was expected.
foreach(case "layers;\"eight\";'layers' is \"eight\", expected an integer"
             "primitives;5;'primitives' is 5, expected a list of strings"
             "order;\"x\";'order' is \"x\", expected an integer"
             "seed;-1;'seed' is -1, expected a non-negative integer"
             "flip;1;'flip' is 1, expected true or false")
  list(GET case 0 key)
  list(GET case 1 value)
  list(GET case 2 message)
  edit("${good}" "${WORK}/type-${key}.safetensors" option ${key} "${value}")
  expect_exit(2 "type-${key}.safetensors: metadata 'options': ${message}"
              derive --checkpoint "${WORK}/type-${key}.safetensors")
endforeach()
# Options that are not bounded JSON.
string(REPEAT "[" 100 deep)
edit("${good}" "${WORK}/deep.safetensors" meta options "${deep}")
expect_exit(2 "deep.safetensors: metadata 'options' nests deeper than 64 levels"
            derive --checkpoint "${WORK}/deep.safetensors")
edit("${good}" "${WORK}/huge.safetensors" meta options "{\"layers\": 1e999}")
expect_exit(2 "huge.safetensors: metadata 'options' holds a number out of range"
            derive --checkpoint "${WORK}/huge.safetensors")

# A resumed search refuses the same, and non-finite weights and buffers too.
edit("${good}" "${WORK}/resume-nan/checkpoint.safetensors" value alphas_normal 11 nan)
expect_exit(2 "resume-nan/checkpoint.safetensors: 'alphas_normal' holds nan at row 1, column 3"
            search --resume "${WORK}/resume-nan" --epochs 2 --device cpu)
edit("${good}" "${WORK}/resume-empty/checkpoint.safetensors" shape alphas_reduce 0,8)
expect_exit(2 "resume-empty/checkpoint.safetensors: 'alphas_reduce' is F32 [0, 8], expected F32 [5, 8] (not empty"
            search --resume "${WORK}/resume-empty" --epochs 2 --device cpu)
edit("${good}" "${WORK}/resume-weight/checkpoint.safetensors" value stem.0.weight 7 inf)
expect_exit(2 "resume-weight/checkpoint.safetensors: 'stem.0.weight' holds inf at element 7"
            search --resume "${WORK}/resume-weight" --epochs 2 --device cpu)
edit("${good}" "${WORK}/resume-type/checkpoint.safetensors" option layers "\"eight\"")
expect_exit(2 "resume-type/checkpoint.safetensors: metadata 'options': 'layers' is \"eight\", expected an integer"
            search --resume "${WORK}/resume-type" --epochs 2 --device cpu)
edit("${good}" "${WORK}/resume-seed/checkpoint.safetensors" option seed -1)
expect_exit(2 "resume-seed/checkpoint.safetensors: metadata 'options': 'seed' is -1, expected a non-negative integer"
            search --resume "${WORK}/resume-seed" --epochs 2 --device cpu)
expect_exit(0 "" search --resume "${WORK}/search" --epochs 2 --device cpu)

# ----- a training checkpoint: test and train --resume refuse non-finite weights and buffers -----
set(tinytrain --dataset synthetic --subset 64 --layers 3 --init-channels 4 --batch-size 16
              --device cpu)
expect_exit(0 "" train ${tinytrain} --epochs 1 --auxiliary=false --out "${WORK}/train")
set(trained "${WORK}/train/checkpoint.safetensors")
set(testflags --dataset synthetic --subset 64 --device cpu)
edit("${trained}" "${WORK}/weight-nan.safetensors" value stem.0.weight 5 nan)
expect_exit(2 "weight-nan.safetensors: 'stem.0.weight' holds nan at element 5"
            test --checkpoint "${WORK}/weight-nan.safetensors" ${testflags})
edit("${trained}" "${WORK}/buffer-inf.safetensors" value stem.1.running_var 2 -inf)
expect_exit(2 "buffer-inf.safetensors: 'stem.1.running_var' holds -inf at element 2"
            test --checkpoint "${WORK}/buffer-inf.safetensors" ${testflags})
edit("${trained}" "${WORK}/train-type.safetensors" option layers "\"x\"")
expect_exit(2 "train-type.safetensors: metadata 'options': 'layers' is \"x\", expected an integer"
            test --checkpoint "${WORK}/train-type.safetensors" ${testflags})
edit("${trained}" "${WORK}/train-nan/checkpoint.safetensors" value stem.1.running_var 2 nan)
expect_exit(2 "train-nan/checkpoint.safetensors: 'stem.1.running_var' holds nan at element 2"
            train --resume "${WORK}/train-nan" --epochs 2 --device cpu)
edit("${trained}" "${WORK}/train-epochs/checkpoint.safetensors" option epochs "\"x\"")
expect_exit(2 "train-epochs/checkpoint.safetensors: metadata 'options': 'epochs' is \"x\", expected an integer"
            train --resume "${WORK}/train-epochs" --epochs 2 --device cpu)
expect_exit(0 "" test --checkpoint "${trained}" ${testflags})
