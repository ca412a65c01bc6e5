# Command-line contract of the recurrent commands (`search`, `train` and `test` with --task rnn) on a
# tiny Penn Treebank-format folder written here: Katib-style last lines, the run directory's files,
# a resume that extends a run, `test` reproducing train's test perplexity from the checkpoint, and
# one-line errors (exit 2; 3 for a diverged run). Run by CTest as the `cli_rnn` test:
#   cmake -DCUDARTS=<path to cudarts> -DWORK=<scratch dir> -P tests/cli_rnn.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/ptb")

include("${CMAKE_CURRENT_LIST_DIR}/cli_common.cmake")

# Sentences of a small grammar, as tests/rnn_cases.h writes them.
set(subjects "the cat" "a dog" "the bird" "my friend" "our teacher")
set(verbs sees likes finds eats)
set(objects "the fish" "a ball" "the old tree" "some bread" "a red car")
function(write_split name first count)
  set(text "")
  math(EXPR last "${first} + ${count} - 1")
  foreach(k RANGE ${first} ${last})
    math(EXPR s "${k} % 5")
    math(EXPR v "(${k} / 5) % 4")
    math(EXPR o "(${k} * 3) % 5")
    list(GET subjects ${s} subject)
    list(GET verbs ${v} verb)
    list(GET objects ${o} object)
    string(APPEND text "${subject} ${verb} ${object} .\n")
  endforeach()
  file(WRITE "${WORK}/ptb/${name}" "${text}")
endfunction()
write_split(train.txt 0 300)
write_split(valid.txt 300 40)
write_split(test.txt 340 40)

set(tiny --data "${WORK}/ptb" --device cpu --nhid 8 --batch-size 4 --eval-batch-size 2 --bptt 8)

# ----- errors -----
expect_exit(2 "--task: expected cnn or rnn, got 'lstm'" search --task lstm)
expect_exit(2 "derive has no recurrent variant" derive --task rnn)
expect_exit(2 "${WORK}/missing" search --task rnn --data "${WORK}/missing" --device cpu)
expect_exit(2 "--epochs" search --task rnn ${tiny} --epochs 0 --out "${WORK}/bad")
expect_exit(2 "--order" search --task rnn ${tiny} --order 3 --out "${WORK}/bad")
expect_exit(2 "--emsize: 6 differs from --nhid 8" train --task rnn ${tiny} --emsize 6)
expect_exit(2 "--genotype" train --task rnn ${tiny} --genotype "Genotype(recurrent=[('tan', 0)])")
expect_exit(2 "expected --checkpoint" test --task rnn --data "${WORK}/ptb")
expect_exit(3 "loss is NaN at epoch 1 step" train --task rnn ${tiny} --epochs 1
            --learning-rate 1e30 --grad-clip 1e30 --out "${WORK}/diverged")

# ----- search -----
expect_stdout("Validation-Perplexity=[0-9]+\\.[0-9][0-9][0-9][0-9]\nBest-Genotype=Genotype\\(recurrent=\\[\\('[a-z]+', [0-9]\\), .*\\], concat=range\\(1, 9\\)\\)\n$"
              search --task rnn ${tiny} --epochs 1 --out "${WORK}/search")
expect_files("search --task rnn" "${WORK}/search" checkpoint.safetensors genotype.txt
             genotype.json metrics.jsonl epochs/genotype_001.txt epochs/genotype_001.json)
expect_exit(2 "already holds a search" search --task rnn ${tiny} --epochs 1 --out "${WORK}/search")
expect_exit(2 "--learning-rate: 5 conflicts with the run's 20" search --task rnn
            --resume "${WORK}/search" --epochs 2 --learning-rate 5)
expect_stdout("resuming .* after epoch 1 of 2.*epoch 2/2 train_ppl" search --task rnn
              --resume "${WORK}/search" --epochs 2 --device cpu)
file(STRINGS "${WORK}/search/metrics.jsonl" lines)
list(LENGTH lines n)
if(NOT n EQUAL 2)
  message(FATAL_ERROR "metrics.jsonl holds ${n} lines after the resume, expected 2")
endif()
expect_exit(2 "a search checkpoint" test --task rnn --data "${WORK}/ptb"
            --checkpoint "${WORK}/search/checkpoint.safetensors")

# ----- train and test -----
execute_process(COMMAND "${CUDARTS}" train --task rnn ${tiny} --epochs 2 --genotype DARTS_V1
                        --out "${WORK}/train"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "test_loss=([0-9.]+)\ntest_ppl=([0-9.]+)\n$")
  message(FATAL_ERROR "train --task rnn: exit ${rc}\n${out}\n${err}")
endif()
set(train_ppl "${CMAKE_MATCH_2}")
expect_stdout("^test_loss=[0-9.]+\ntest_ppl=${train_ppl}\n$" test --task rnn --data "${WORK}/ptb"
              --device cpu --checkpoint "${WORK}/train/checkpoint.safetensors")
expect_stdout("^valid_loss=[0-9.]+\nvalid_ppl=[0-9.]+\n$" test --task rnn --data "${WORK}/ptb"
              --device cpu --split valid --eval-batch-size 10
              --checkpoint "${WORK}/train/checkpoint.safetensors")
# A cell that does not match the checkpoint's weights is named by its entry.
expect_exit(2 "'encoder.weight' is F32 [23, 8], expected F32 [23, 6]" test --task rnn --data "${WORK}/ptb" --device cpu --nhid 6
            --checkpoint "${WORK}/train/checkpoint.safetensors")
