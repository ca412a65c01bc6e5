# Command-line contract of the `cudarts` binary: bad input gives exactly one line on stderr that
# names the input, and exit code 2; a run that diverges one line naming its step, and exit code 3;
# good input exits 0. Run by CTest as the `cli` test:
#   cmake -DCUDARTS=<path to cudarts> -DWORK=<scratch dir> -P tests/cli.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

include("${CMAKE_CURRENT_LIST_DIR}/cli_common.cmake")

# Malformed safetensors files: garbage, a header length past the end, bad JSON.
file(WRITE "${WORK}/garbage.safetensors" "abc")
expect_exit(2 "garbage.safetensors" inspect "${WORK}/garbage.safetensors")
# u64 header length 0x7f (127) but only a few bytes follow
string(ASCII 127 c127)
file(WRITE "${WORK}/short.safetensors" "${c127}")
file(APPEND "${WORK}/short.safetensors" "\n\n\n\n\n\n\n{}")
expect_exit(2 "short.safetensors" inspect "${WORK}/short.safetensors")
expect_exit(2 "missing.safetensors" inspect "${WORK}/missing.safetensors")

expect_exit(2 "frobnicate" frobnicate)
expect_exit(2 "nonsense" info --nonsense)
expect_exit(0 "" info)

# ----- search and derive -----

set(tiny --dataset synthetic --subset 64 --layers 2 --init-channels 4 --nodes 2 --batch-size 16
         --device cpu)
expect_exit(2 "max_pool_5x5" search ${tiny} --primitives max_pool_3x3,max_pool_5x5)
# A bad setting is named as the user gave it: the flag on a command line, the key in a Katib trial.
expect_exit(2 "--epochs" search ${tiny} --epochs 0)
expect_exit(2 "--algorithm-settings: num_epochs" search ${tiny} "--algorithm-settings={'num_epochs': '0'}")
expect_exit(2 "--device" search --device gpu)
expect_exit(2 "--search-space" search ${tiny} "--search-space=['max_pooling_5x5']")
expect_exit(2 "--algorithm-settings" search ${tiny} "--algorithm-settings={'num_epochs': '3'")
expect_exit(2 "num_epochs" search ${tiny} "--algorithm-settings={'num_epochs': '0.5'}")
# A negative Katib seed is refused as --seed -1 is, not wrapped to 2^64 - 1.
expect_exit(2 "--algorithm-settings: seed is '-1'; expected a non-negative integer" search ${tiny}
            "--algorithm-settings={'seed': '-1'}")
expect_exit(2 "${WORK}/no-such-dir" search --dataset cifar10 --data "${WORK}/no-such-dir")
expect_exit(2 "--dataset" search --dataset imagenet42)
expect_exit(2 "--order" search ${tiny} --order 3)
expect_exit(2 "${WORK}/nothing" search --resume "${WORK}/nothing")

# A whole (tiny) search: Katib's metric lines come last, the outputs exist, a resume extends it.
expect_stdout("Validation-Accuracy=[01]\\.[0-9][0-9][0-9][0-9]\nBest-Genotype=Genotype\\(normal=\\[\\[\\('[a-z_0-9]+',[0-9]\\),\\('[a-z_0-9]+',[0-9]\\)\\],.*\\]\\],normal_concat=range\\(2,4\\),reduce=\\[\\[.*\\)\n$"
              search ${tiny} --epochs 1 --out "${WORK}/run")
expect_files(search "${WORK}/run" checkpoint.safetensors genotype.txt genotype.json
             metrics.jsonl epochs/genotype_001.txt epochs/genotype_001.json)
file(READ "${WORK}/run/genotype.txt" geno)
if(NOT geno MATCHES "^Genotype\\(normal=\\[\\('[a-z_0-9]+', [0-9]\\), .*reduce_concat=range\\(2, 4\\)\\)\n$")
  message(FATAL_ERROR "genotype.txt is not in the DARTS form:\n${geno}")
endif()
expect_exit(2 "already holds a search" search ${tiny} --epochs 1 --out "${WORK}/run")
expect_stdout("resuming .* after epoch 1 of 2.*epoch 2/2 train_loss" search --resume "${WORK}/run"
              --epochs 2 --device cpu)
file(STRINGS "${WORK}/run/metrics.jsonl" lines)
list(LENGTH lines n)
if(NOT n EQUAL 2)
  message(FATAL_ERROR "metrics.jsonl has ${n} lines after 2 epochs, expected 2")
endif()
expect_stdout("^Genotype\\(normal=\\[\\(" derive --checkpoint "${WORK}/run/checkpoint.safetensors")
expect_stdout("^\\{.*\"normal\"" derive --checkpoint "${WORK}/run/checkpoint.safetensors" --json)
expect_stdout("^Genotype\\(normal=\\[\\[\\(" derive --checkpoint "${WORK}/run/checkpoint.safetensors"
              --katib)
expect_exit(2 "garbage.safetensors" derive --checkpoint "${WORK}/garbage.safetensors")
expect_exit(2 "alphas_normal" derive --checkpoint "${WORK}/run/epochs/../checkpoint.safetensors"
            --primitives none,skip_connect)

# Katib's trial flags (as the pod's shell passes them: one argument each), CPU example shape.
expect_stdout("Best-Genotype=Genotype\\(normal=\\[\\[\\('max_pooling_3x3',[01]\\),\\('max_pooling_3x3',[01]\\)\\]\\],normal_concat=range\\(2,3\\),reduce=\\[\\],reduce_concat=range\\(2,3\\)\\)\n$"
              search --dataset synthetic --subset 64 --device cpu --out "${WORK}/katib"
              "--algorithm-settings={'num_epochs': '1', 'init_channels': '4', 'num_nodes': '1', 'stem_multiplier': '1', 'batch_size': '16'}"
              "--search-space=['max_pooling_3x3']" "--num-layers=1")

# A corrupt checkpoint is refused and left as it was.
file(WRITE "${WORK}/bad/checkpoint.safetensors" "not a checkpoint")
expect_exit(2 "${WORK}/bad/checkpoint.safetensors" search --resume "${WORK}/bad" --device cpu)
file(READ "${WORK}/bad/checkpoint.safetensors" kept)
if(NOT kept STREQUAL "not a checkpoint")
  message(FATAL_ERROR "a refused resume changed ${WORK}/bad/checkpoint.safetensors")
endif()

# ----- visualize -----
expect_exit(0 "" visualize --genotype DARTS_V2 --out "${WORK}/viz")
expect_files(visualize "${WORK}/viz" normal.dot reduce.dot)
expect_exit(0 "" visualize --metrics "${WORK}/run/metrics.jsonl"
            --checkpoint "${WORK}/run/checkpoint.safetensors" --out "${WORK}/viz")
expect_files(visualize "${WORK}/viz" alphas_normal.svg)
expect_exit(2 "metrics.jsonl" visualize --metrics "${WORK}/run/metrics.jsonl" --primitives none,skip_connect)
expect_exit(2 "--genotype" visualize --genotype nonsense)

# ----- train and test -----
set(tinytrain --dataset synthetic --subset 64 --layers 3 --init-channels 4 --batch-size 16
              --device cpu)
expect_stdout("epoch 1/1 lr 0.025000 .*test_loss=[0-9]+\\.[0-9]+\ntest_acc=[01]\\.[0-9][0-9][0-9][0-9]\n$"
              train ${tinytrain} --epochs 1 --auxiliary=false --out "${WORK}/train")
expect_stdout("^test_loss=[0-9]+\\.[0-9]+\ntest_acc=[01]\\.[0-9][0-9][0-9][0-9]\n$"
              test --checkpoint "${WORK}/train/checkpoint.safetensors" --dataset synthetic
              --subset 64 --device cpu)
expect_exit(2 "${WORK}/train/checkpoint.safetensors" test --genotype DARTS_V1
            --checkpoint "${WORK}/train/checkpoint.safetensors" --dataset synthetic --device cpu)
expect_exit(2 "already holds a training run" train ${tinytrain} --epochs 1 --out "${WORK}/train")
expect_exit(2 "--genotype" train ${tinytrain} "--genotype=Genotype(normal=[('foo_conv', 0)])")
expect_exit(2 "--auxiliary" train ${tinytrain} --auxiliary --out "${WORK}/train-aux")
# The CPU preset on the default data (Fashion-MNIST, 28x28) drops the auxiliary head, which needs
# 8x8 maps at its cell; asked for, the head is refused in one line.
expect_stdout("preset: auxiliary head off \\(28x28 .*test_acc=" train --device cpu --epochs 1
              --subset 64 --out "${WORK}/train-default")
expect_exit(2 "the auxiliary head needs maps of at least 8x8 at cell 4" train --device cpu
            --epochs 1 --subset 64 --auxiliary --out "${WORK}/train-default-aux")

# ----- nothing silent, nothing lost -----
function(require_absent path)
  if(EXISTS "${path}")
    message(FATAL_ERROR "${path} exists; a refused or diverged run must not write it")
  endif()
endfunction()
function(count_lines file expected)
  file(STRINGS "${file}" lines)
  list(LENGTH lines n)
  if(NOT n EQUAL expected)
    message(FATAL_ERROR "${file} has ${n} lines, expected ${expected}")
  endif()
endfunction()

# Divergence is exit 3 with its step; a run that diverges in its first epoch writes nothing.
set(steps8 --dataset synthetic --subset 256 --layers 2 --init-channels 4 --nodes 2 --batch-size 16
           --device cpu --epochs 1)
expect_exit(3 "at epoch 1 step" search ${steps8} --learning-rate 1e9 --out "${WORK}/nan1")
expect_exit(3 "no checkpoint was written" search ${steps8} --learning-rate 1e9 --order 2
            --out "${WORK}/nan2")
require_absent("${WORK}/nan1/checkpoint.safetensors")
require_absent("${WORK}/nan2/checkpoint.safetensors")
expect_exit(3 "train: the gradient norm is NaN at epoch 1 step" train --dataset synthetic
            --subset 256 --layers 3 --init-channels 4 --batch-size 16 --device cpu --epochs 1
            --auxiliary=false --learning-rate 1e9 --out "${WORK}/nan3")
require_absent("${WORK}/nan3/checkpoint.safetensors")
# A cosine floor above the start makes epoch 2 diverge after epoch 1 was saved: the checkpoint
# and the text outputs stay those of epoch 1, and the run resumes from there.
expect_exit(3 "last good checkpoint: ${WORK}/nan4/checkpoint.safetensors" search ${tiny}
            --epochs 2 --learning-rate 0.01 --learning-rate-min 1e9 --out "${WORK}/nan4")
count_lines("${WORK}/nan4/metrics.jsonl" 1)
require_absent("${WORK}/nan4/epochs/genotype_002.txt")
expect_stdout("resuming .* after epoch 1 of 1\n" search --resume "${WORK}/nan4" --epochs 1
              --device cpu)
expect_exit(3 "last good checkpoint: ${WORK}/nan5/checkpoint.safetensors" train ${tinytrain}
            --epochs 2 --auxiliary=false --learning-rate 0.01 --learning-rate-min 1e9
            --out "${WORK}/nan5")
count_lines("${WORK}/nan5/metrics.jsonl" 1)

# One run per directory: a second run into a directory in use is refused naming the holder's pid
# (the first run's first flushed line means it holds the lock; cat lets it finish).
execute_process(
  COMMAND "${CUDARTS}" search ${tiny} --epochs 2 --out "${WORK}/locked"
  COMMAND sh -c "read line; \"$0\" search --dataset synthetic --device cpu --out \"$1\"; echo second=$?; cat >/dev/null"
          "${CUDARTS}" "${WORK}/locked"
  RESULTS_VARIABLE rcs OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT out MATCHES "second=2" OR NOT err MATCHES "--out: ${WORK}/locked is in use by another cudarts run \\(pid [0-9]+\\)")
  message(FATAL_ERROR "a second run into a locked directory: ${out}\n${err}")
endif()
if(NOT rcs STREQUAL "0;0")
  message(FATAL_ERROR "the first run into ${WORK}/locked failed (${rcs}): ${err}")
endif()
count_lines("${WORK}/locked/metrics.jsonl" 2)
message(STATUS "ok: a second run into a locked directory is refused")
# Stale temporary files of a killed run are removed when the directory is next locked.
file(WRITE "${WORK}/stale/checkpoint.safetensors.tmp.12345" "x")
file(WRITE "${WORK}/stale/epochs/genotype_001.txt.tmp.12345" "x")
file(WRITE "${WORK}/stale/notes.tmp.txt" "kept")
expect_exit(0 "" search ${tiny} --epochs 1 --out "${WORK}/stale")
require_absent("${WORK}/stale/checkpoint.safetensors.tmp.12345")
require_absent("${WORK}/stale/epochs/genotype_001.txt.tmp.12345")
if(NOT EXISTS "${WORK}/stale/notes.tmp.txt")
  message(FATAL_ERROR "a file that is not a stale temporary was removed")
endif()

# Outputs never ahead of the checkpoint: killed after the checkpoint, before the text outputs,
# a run is completed by its resume from the checkpoint's own copy.
file(READ "${WORK}/stale/metrics.jsonl" metrics_before)
file(READ "${WORK}/stale/genotype.txt" genotype_before)
file(WRITE "${WORK}/stale/metrics.jsonl" "")
file(REMOVE "${WORK}/stale/genotype.txt" "${WORK}/stale/epochs/genotype_001.json")
expect_exit(0 "" search --resume "${WORK}/stale" --device cpu)
file(READ "${WORK}/stale/metrics.jsonl" metrics_after)
file(READ "${WORK}/stale/genotype.txt" genotype_after)
if(NOT metrics_after STREQUAL metrics_before OR NOT genotype_after STREQUAL genotype_before
   OR NOT EXISTS "${WORK}/stale/epochs/genotype_001.json")
  message(FATAL_ERROR "a resume did not complete the outputs from the checkpoint")
endif()

# Resume says what it ignores: a changed setting is refused and nothing is touched; the run's own
# value is accepted.
file(SHA256 "${WORK}/run/checkpoint.safetensors" before)
expect_exit(2 "--learning-rate: 0.1 conflicts with the run's 0.025" search --resume "${WORK}/run"
            --learning-rate 0.1 --device cpu)
expect_exit(2 "--layers: 3 conflicts with the run's 2" search --resume "${WORK}/run" --layers 3)
expect_exit(2 "--dataset: 'cifar10' conflicts with the run's 'synthetic'" search
            --resume "${WORK}/run" --dataset cifar10)
expect_exit(2 "--data: '${WORK}' conflicts" search --resume "${WORK}/run" --data "${WORK}")
expect_exit(2 "--seed: 3 conflicts with the run's 2" search --resume "${WORK}/run" --seed 3)
expect_exit(2 "--order: 2 conflicts with the run's 1" search --resume "${WORK}/run" --order 2)
expect_exit(2 "--preset" search --resume "${WORK}/run" --preset paper)
expect_exit(2 "--learning-rate: 0.1 conflicts with the run's 0.025" train
            --resume "${WORK}/train" --learning-rate 0.1)
expect_exit(2 "--layers: 4 conflicts with the run's 3" train --resume "${WORK}/train" --layers 4)
file(SHA256 "${WORK}/run/checkpoint.safetensors" after)
if(NOT before STREQUAL after)
  message(FATAL_ERROR "a refused resume changed ${WORK}/run/checkpoint.safetensors")
endif()
expect_stdout("resuming .* after epoch 2 of 2" search --resume "${WORK}/run" --learning-rate 0.025
              --layers 2 --dataset synthetic --device cpu)

# Bad --out, checked before any data are loaded; nothing written.
expect_exit(2 "--out: expected a directory, got ''" search ${tiny} --out=)
file(WRITE "${WORK}/a-file" "x")
expect_exit(2 "--out: cannot create ${WORK}/a-file/out" search ${tiny} --out "${WORK}/a-file/out")
expect_exit(2 "--out: ${WORK}/a-file is not a directory" train ${tinytrain} --out "${WORK}/a-file")
# A path that is not UTF-8 could never be written into a checkpoint's header: refused up front.
string(ASCII 255 byte_ff)
expect_exit(2 "is not valid UTF-8" search ${tiny} --data "${WORK}/d${byte_ff}" --out "${WORK}/utf8")
require_absent("${WORK}/utf8")
# Network sizes are bounded (and stated in --help) before anything is allocated.
expect_exit(2 "--layers: expected 1..64, got 100000" search ${tiny} --layers 100000
            --out "${WORK}/huge")
require_absent("${WORK}/huge")
expect_exit(2 "--layers: expected 3..100, got 1000" train ${tinytrain} --layers 1000
            --out "${WORK}/huge")
expect_stdout("cells, 1\\.\\.64" search --help)
# inspect on a FIFO that no process writes: refused at once, never blocking.
execute_process(COMMAND mkfifo "${WORK}/fifo.safetensors" RESULT_VARIABLE rc)
if(rc EQUAL 0)
  expect_exit(2 "fifo.safetensors: not a regular file (a FIFO)" inspect "${WORK}/fifo.safetensors")
endif()
