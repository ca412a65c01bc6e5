# Command-line contract of `cudarts hpsearch`: an exec trial on an analytic objective (a shell
# script here), the run directory's files, a resume after a kill that reruns no finished trial and
# ends where the whole run ends, two tiny `cudarts train` trials scored on their held-out split,
# train's --valid-portion rule ([0, 1), 0: no held-out split), one-line errors (exit 2) for bad
# configs and a malformed trials.jsonl on --resume, and a trial that dies with an hpsearch killed
# by SIGKILL. Run by CTest as the `cli_hpsearch` test:
#   cmake -DCUDARTS=<path to cudarts> -DWORK=<scratch dir> -P tests/cli_hpsearch.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

include("${CMAKE_CURRENT_LIST_DIR}/cli_common.cmake")

# The objective: smallest at x = 0.01, n = 5.
file(WRITE "${WORK}/objective.sh" [=[
awk -v x="$1" -v n="$2" 'BEGIN { l = log(x) / log(10) + 2; m = (n - 5) / 4; v = l * l + m * m
  print "Validation-Loss=" v; print "Validation-Accuracy=" 1 / (1 + v) }'
]=])
file(WRITE "${WORK}/exec.json" "{\"command\": \"exec\", \"trials\": 10, \"seed\": 4,
 \"exec\": [\"sh\", \"${WORK}/objective.sh\", \"{x}\", \"{n}\"],
 \"parameters\": [{\"name\": \"x\", \"min\": 0.0001, \"max\": 1, \"scale\": \"log\"},
                {\"name\": \"n\", \"min\": 1, \"max\": 9, \"type\": \"integer\"}]}")

# ----- a whole run, then the same run killed after 4 trials and resumed -----
set(last_lines "best: trial [0-9]+, x=[0-9.e-]+ n=[0-9]+\nValidation-Loss=[0-9]+\\.[0-9]+\nValidation-Accuracy=[0-9]+\\.[0-9]+\n$")
expect_stdout("${last_lines}" hpsearch --config "${WORK}/exec.json" --out "${WORK}/whole")
expect_files("hpsearch" "${WORK}/whole" config.json trials.jsonl hpsearch.svg trials/009.log)
file(STRINGS "${WORK}/whole/trials.jsonl" whole_lines)
list(LENGTH whole_lines n)
if(NOT n EQUAL 10)
  message(FATAL_ERROR "trials.jsonl holds ${n} lines, expected 10")
endif()
execute_process(COMMAND "${CUDARTS}" hpsearch --config "${WORK}/exec.json" --out "${WORK}/parts"
                --trials 4 OUTPUT_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hpsearch --trials 4: exit ${rc}")
endif()
file(REMOVE "${WORK}/parts/trials/003.log")  # a finished trial is not run again
expect_stdout("resuming: 4 of 10 trials finished" hpsearch --resume "${WORK}/parts")
if(EXISTS "${WORK}/parts/trials/003.log")
  message(FATAL_ERROR "the resumed hpsearch ran trial 3 again")
endif()
# The same points in the same order as the run that was never killed.
file(STRINGS "${WORK}/parts/trials.jsonl" parts_lines)
foreach(i RANGE 9)
  list(GET whole_lines ${i} a)
  list(GET parts_lines ${i} b)
  string(REGEX MATCH "\"params\":{[^}]*}" pa "${a}")
  string(REGEX MATCH "\"params\":{[^}]*}" pb "${b}")
  if(NOT pa STREQUAL pb OR pa STREQUAL "")
    message(FATAL_ERROR "trial ${i}: resumed ${pb}, whole run ${pa}")
  endif()
endforeach()

# ----- two tiny `cudarts train` trials, scored on --valid-portion -----
file(WRITE "${WORK}/train.json" [=[
{"command": "train", "trials": 2, "seed": 1, "valid_portion": 0.25,
 "flags": {"epochs": 1, "subset": 96, "layers": 3, "init-channels": 4, "auxiliary": false,
           "batch-size": 16, "device": "cpu"},
 "parameters": [{"name": "learning-rate", "min": 0.005, "max": 0.1, "scale": "log"}]}
]=])
expect_stdout("Validation-Loss=[0-9]+\\.[0-9]+\nValidation-Accuracy=[0-9]+\\.[0-9]+\n$"
              hpsearch --config "${WORK}/train.json" --out "${WORK}/train")
file(READ "${WORK}/train/trials/001/metrics.jsonl" metrics)
if(NOT metrics MATCHES "\"valid_loss\"" OR metrics MATCHES "\"test_loss\"")
  message(FATAL_ERROR "a train trial is scored on its held-out split: ${metrics}")
endif()

# ----- train's --valid-portion: a fraction in [0, 1); 0 scores the epochs on the test split -----
set(tinytrain train --device cpu --epochs 1 --subset 96 --layers 3 --init-channels 4
    --auxiliary=false --batch-size 16)
foreach(portion 1.5 1 -0.1)
  expect_exit(2 "--valid-portion: expected a fraction in [0, 1), got ${portion}" ${tinytrain}
              --valid-portion=${portion} --out "${WORK}/portion")
endforeach()
expect_exit(2 "--valid-portion: 0.001 of 96 training images leaves a part empty" ${tinytrain}
            --valid-portion 0.001 --out "${WORK}/portion")
expect_stdout("\ntest_loss=[0-9]+\\.[0-9]+\ntest_acc=[01]\\.[0-9]+\n$" ${tinytrain}
              --valid-portion 0 --out "${WORK}/portion-0")
file(READ "${WORK}/portion-0/metrics.jsonl" metrics)
if(NOT metrics MATCHES "\"test_loss\"" OR metrics MATCHES "\"valid_loss\"")
  message(FATAL_ERROR "--valid-portion 0 holds nothing out: ${metrics}")
endif()

# ----- errors: one line, exit 2 -----
expect_exit(2 "already holds an hpsearch" hpsearch --config "${WORK}/exec.json" --out "${WORK}/whole")
expect_exit(2 "holds no config.json" hpsearch --resume "${WORK}/nothing")
expect_exit(2 "--config: expected" hpsearch --out "${WORK}/bad")
file(WRITE "${WORK}/broken.json" "{\"command\": \"train\", ")
expect_exit(2 "broken.json is not valid JSON" hpsearch --config "${WORK}/broken.json" --out "${WORK}/bad")
file(WRITE "${WORK}/unknown.json" [=[
{"command": "train", "parameters": [{"name": "layerz", "min": 3, "max": 6, "type": "integer"}]}
]=])
expect_exit(2 "does not take --layerz" hpsearch --config "${WORK}/unknown.json" --out "${WORK}/bad")
file(WRITE "${WORK}/refused.json" [=[
{"command": "train", "trials": 2,
 "flags": {"epochs": 1, "subset": 64, "device": "cpu", "init-channels": 4},
 "parameters": [{"name": "layers", "min": 0, "max": 1, "type": "integer"}]}
]=])
expect_exit(2 "trial 0 (cudarts train layers=0" hpsearch --config "${WORK}/refused.json" --out "${WORK}/refused")

# A malformed trials.jsonl line on --resume: one line naming the file and the line.
execute_process(COMMAND "${CUDARTS}" hpsearch --config "${WORK}/exec.json" --out "${WORK}/jsonl"
                --trials 2 OUTPUT_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hpsearch --trials 2: exit ${rc}")
endif()
file(READ "${WORK}/jsonl/trials.jsonl" two_trials)
file(WRITE "${WORK}/jsonl/trials.jsonl" "${two_trials}{\"trial\": 2, ")
expect_exit(2 "${WORK}/jsonl/trials.jsonl:3 is not valid JSON" hpsearch --resume "${WORK}/jsonl")
file(WRITE "${WORK}/jsonl/trials.jsonl" "${two_trials}{\"trial\": 2, \"colour\": 1}\n")
expect_exit(2 "${WORK}/jsonl/trials.jsonl:3: 'colour': unknown key" hpsearch --resume "${WORK}/jsonl")
string(REPLACE "\"status\"" "\"state\"" renamed "${two_trials}")
file(WRITE "${WORK}/jsonl/trials.jsonl" "${renamed}")
expect_exit(2 "${WORK}/jsonl/trials.jsonl:1: 'state': unknown key" hpsearch --resume "${WORK}/jsonl")

# ----- an hpsearch killed by SIGKILL takes its running trial with it -----
# The trial writes its pid and sleeps for a minute; the script kills hpsearch once the pid is
# there, then waits (5 s at most) for the trial to be gone or a zombie. Polling, not timing: a
# trial that outlives its search is killed here and the test fails.
file(WRITE "${WORK}/sleeper.sh" [=[
echo $$ > "$1.tmp" && mv "$1.tmp" "$1"
exec sleep 60
]=])
file(WRITE "${WORK}/sleeper.json" "{\"command\": \"exec\", \"trials\": 2,
 \"exec\": [\"sh\", \"${WORK}/sleeper.sh\", \"${WORK}/trial.pid\", \"{x}\"],
 \"parameters\": [{\"name\": \"x\", \"min\": 0, \"max\": 1}]}")
file(WRITE "${WORK}/kill.sh" [=[
"$1" hpsearch --config "$2" --out "$3" > /dev/null 2>&1 &
search=$!
i=0
while [ ! -s "$4" ]; do
  i=$((i + 1)); [ $i -gt 200 ] && { kill -9 $search; echo "no trial started"; exit 1; }
  sleep 0.05
done
kill -9 $search
wait $search
trial=$(cat "$4")
i=0
while kill -0 "$trial" 2> /dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$trial/status"; do
  i=$((i + 1)); [ $i -gt 100 ] && { kill -9 "$trial"; echo "trial $trial outlived hpsearch"; exit 1; }
  sleep 0.05
done
echo "trial $trial ended with hpsearch"
]=])
execute_process(COMMAND sh "${WORK}/kill.sh" "${CUDARTS}" "${WORK}/sleeper.json" "${WORK}/killed"
                "${WORK}/trial.pid" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "ended with hpsearch")
  message(FATAL_ERROR "SIGKILL of hpsearch: exit ${rc}: ${out}${err}")
endif()
message(STATUS "ok: ${out}")
