# Command-line contract of `cudarts enas-trial` (Katib's ENAS trial flags and formats, the four
# metric lines after every epoch, a metric line last) and `cudarts enas` (the run directory's files,
# a resume that ends where the whole run ends, Best-Architecture= last), and one-line errors
# (exit 2). Run by CTest as the `cli_enas` test:
#   cmake -DCUDARTS=<path to cudarts> -DWORK=<scratch dir> -P tests/cli_enas.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

include("${CMAKE_CURRENT_LIST_DIR}/cli_common.cmake")

# Fails unless the metrics.jsonl of run directories `a` and `b` hold the same `n` lines but for the
# seconds (a resumed run against the same run never interrupted).
function(expect_same_metrics a b n)
  file(STRINGS "${a}/metrics.jsonl" a_lines)
  file(STRINGS "${b}/metrics.jsonl" b_lines)
  list(LENGTH b_lines got)
  if(NOT got EQUAL n)
    message(FATAL_ERROR "${b}/metrics.jsonl holds ${got} lines, expected ${n}")
  endif()
  math(EXPR last "${n} - 1")
  foreach(i RANGE ${last})
    list(GET a_lines ${i} la)
    list(GET b_lines ${i} lb)
    string(REGEX REPLACE ",\"seconds\":[^,}]*" "" la "${la}")
    string(REGEX REPLACE ",\"seconds\":[^,}]*" "" lb "${lb}")
    if(NOT la STREQUAL lb)
      message(FATAL_ERROR "epoch ${i}: resumed ${lb}\nwhole run ${la}")
    endif()
  endforeach()
endfunction()

# A search run whole and in parts: `enas ARGS --epochs 2 --out WHOLE` (stdout matching FIRST, then
# LAST at the end; WHOLE then holds FILES), the same run for one epoch into PARTS, resumed there to
# epoch 2 (ending in LAST too); fails unless the resumed run logs the whole run's two epochs.
function(expect_whole_and_resumed)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "FIRST;LAST;WHOLE;PARTS" "FILES;ARGS")
  expect_stdout("${arg_FIRST}.*${arg_LAST}" enas ${arg_ARGS} --epochs 2 --out "${arg_WHOLE}")
  expect_files("enas" "${arg_WHOLE}" ${arg_FILES})
  expect_stdout("${arg_LAST}" enas ${arg_ARGS} --epochs 1 --out "${arg_PARTS}")
  expect_stdout("resuming .* after epoch 1 of 2.*${arg_LAST}" enas --resume "${arg_PARTS}" --epochs 2)
  expect_same_metrics("${arg_WHOLE}" "${arg_PARTS}" 2)
endfunction()

# Katib's default metrics regex since v0.13 (reference/katib.md 1.8) must read every metric line
# as a number in fixed notation.
set(number "[0-9]+\\.[0-9]+")
set(metrics "Training-Accuracy=${number}\nTraining-Loss=${number}\nValidation-Accuracy=${number}\nValidation-Loss=${number}\n")

# ----- enas-trial: Katib's spelling (underscores, single quotes inside double quotes) -----
set(nn "\"{'num_layers': 3, 'input_sizes': [16, 16, 3], 'output_sizes': [4], 'embedding': {\
'0': {'opt_id': 0, 'opt_type': 'convolution', 'opt_params': {'filter_size': '3', 'num_filter': '8', 'stride': '2'}}, \
'5': {'opt_id': 5, 'opt_type': 'separable_convolution', 'opt_params': {'filter_size': '5', 'num_filter': '6', 'stride': '1', 'depth_multiplier': '2'}}, \
'9': {'opt_id': 9, 'opt_type': 'reduction', 'opt_params': {'reduction_type': 'max_pooling', 'pool_size': 2}}}}\"")
set(arch "--architecture=\"[[0], [9, 1], [5, 0, 1]]\"")
expect_stdout("layer 2: max 2x2 /2 <- 1\\+0: 11x16x16 -> 11x8x8\n.*${metrics}.*${metrics}$"
              enas-trial ${arch} --nn_config=${nn} --num_epochs=2 --dataset synthetic --subset 200
              --batch-size 32 --device cpu --save "${WORK}/child.safetensors")
expect_files("enas-trial --save" "${WORK}" child.safetensors)
# Our spelling with dashes takes the same values.
expect_stdout("${metrics}$" enas-trial ${arch} --nn-config ${nn} --num-epochs 1
              --dataset synthetic --subset 100 --device cpu)

# ----- enas-trial errors -----
expect_exit(2 "expected --architecture and --nn_config" enas-trial --nn_config=${nn} --dataset synthetic)
expect_exit(2 "--architecture: row 2: op 4 is not in the nn_config's embedding"
            enas-trial --architecture "[[0], [4, 1], [5, 0, 1]]" --nn_config=${nn} --dataset synthetic)
expect_exit(2 "--nn_config: expected JSON in single or double quotes" enas-trial ${arch} --nn_config "{'num_layers': 3" --dataset synthetic)
expect_exit(2 "input_sizes [16, 16, 3], but fashion-mnist images are 28x28x1"
            enas-trial ${arch} --nn_config=${nn} --dataset fashion-mnist --subset 64)
expect_exit(2 "--valid-portion: expected a fraction in (0, 1)"
            enas-trial ${arch} --nn_config=${nn} --dataset synthetic --valid-portion 1.5)

# ----- enas: a tiny search space, a whole run, then the same run stopped after one epoch -----
file(WRITE "${WORK}/space.json" [=[
{"nasConfig": {"graphConfig": {"numLayers": 2, "inputSizes": [16, 16, 3], "outputSizes": [4]},
 "operations": [
  {"operationType": "convolution", "parameters": [
    {"name": "filter_size", "parameterType": "categorical", "feasibleSpace": {"list": ["3"]}},
    {"name": "num_filter", "parameterType": "categorical", "feasibleSpace": {"list": ["4", "8"]}}]},
  {"operationType": "reduction", "parameters": [
    {"name": "reduction_type", "parameterType": "categorical", "feasibleSpace": {"list": ["avg_pooling"]}},
    {"name": "pool_size", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "2"}}]}]}}
]=])
set(run --space "${WORK}/space.json" --dataset synthetic --subset 160 --device cpu --batch-size 16
    --child-steps 4 --eval-children 2 --algorithm-settings "{'controller_train_steps': '3', 'controller_learning_rate': 0.01}")
set(last "Validation-Accuracy=${number}\nBest-Architecture=\\[\\[[0-9]\\],\\[[0-9],[01]\\]\\]\n$")
expect_whole_and_resumed(FIRST "space: 2 layers, 3 operations" LAST "${last}" ARGS ${run}
                         WHOLE "${WORK}/whole" PARTS "${WORK}/parts"
                         FILES checkpoint.safetensors metrics.jsonl best.json best_nn_config.json)
# The best child trains alone with the files the search wrote.
file(READ "${WORK}/whole/best_nn_config.json" best_nn)
file(READ "${WORK}/whole/best.json" best)
string(REGEX MATCH "\"architecture\": \"([^\"]*)\"" _ "${best}")
expect_stdout("${metrics}$" enas-trial --architecture "${CMAKE_MATCH_1}" --nn_config "${best_nn}"
              --num_epochs 1 --dataset synthetic --subset 100 --device cpu)
# Katib's averaged reward runs too.
expect_stdout("Katib's averaged reward.*${last}" enas ${run} --epochs 1 --katib-reward --out "${WORK}/katib")

# ----- enas errors -----
expect_exit(2 "already holds an ENAS search" enas ${run} --epochs 1 --out "${WORK}/whole")
expect_exit(2 "controller_temperature" enas --space "${WORK}/space.json" --dataset synthetic
            --algorithm-settings "{'controller_temperature': '-1'}" --out "${WORK}/bad")
expect_exit(2 "controller_hiden_size" enas --space "${WORK}/space.json" --dataset synthetic
            --algorithm-settings "{'controller_hiden_size': '8'}" --out "${WORK}/bad")
file(WRITE "${WORK}/bad_space.json" "{\"graphConfig\": {\"numLayers\": 2}, \"operations\": []}")
expect_exit(2 "bad_space.json: graphConfig: missing 'inputSizes'" enas --space "${WORK}/bad_space.json"
            --dataset synthetic --out "${WORK}/bad")
expect_exit(2 "inputSizes [16, 16, 3], but the images are 28x28x1" enas --space "${WORK}/space.json"
            --dataset fashion-mnist --subset 64 --out "${WORK}/bad")

# ----- enas --mode micro: a DARTS cell in the shared supernet, its genotype trained by train -----
set(micro --mode micro --dataset synthetic --subset 192 --device cpu --layers 2 --init-channels 4
    --nodes 2 --child-steps 3 --batch-size 16 --eval-children 2
    --algorithm-settings "{'controller_train_steps': '2'}")
set(micro_last "Validation-Accuracy=${number}\nBest-Genotype=Genotype\\(normal=\\[\\('[a-z_0-9]+', [0-2]\\).*normal_concat=range\\(2, 4\\).*\\)\n$")
expect_whole_and_resumed(FIRST "supernet: C=4, 2 cells, 2 nodes, 7 ops" LAST "${micro_last}"
                         ARGS ${micro} WHOLE "${WORK}/micro" PARTS "${WORK}/micro_parts"
                         FILES checkpoint.safetensors metrics.jsonl genotype.txt genotype.json)
expect_stdout("test_acc=${number}\n$" train --genotype "${WORK}/micro/genotype.txt" --dataset synthetic
              --subset 64 --epochs 1 --layers 3 --init-channels 4 --auxiliary=false --batch-size 16
              --device cpu --out "${WORK}/micro_train")
expect_exit(2 "--mode: expected macro or micro, got 'mezzo'" enas --mode mezzo --dataset synthetic --out "${WORK}/bad")
expect_exit(2 "--primitives" enas ${micro} --primitives sep_conv_3x3,bogus_op --out "${WORK}/bad")
