# Runs `juice toy-mdp rate|robustness --json` on small problems and checks the JSON's documented keys.
# Usage: cmake -DJUICE=<path> -P cli_json.cmake
execute_process(COMMAND ${JUICE} toy-mdp rate --vocabulary 3 --horizon 2 --budgets 8,32,128 -K 4 --json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "toy-mdp rate failed (${rc}): ${err}")
endif()
string(JSON n LENGTH "${out}" budgets)
string(JSON m LENGTH "${out}" min_grad_norm_sq)
if(NOT n EQUAL 3 OR NOT m EQUAL 3)
  message(FATAL_ERROR "toy-mdp rate: expected 3 budgets and 3 minima: ${out}")
endif()
string(JSON slope GET "${out}" slope)
string(JSON rft_slope GET "${out}" rft slope)
string(JSON v GET "${out}" params mdp vocabulary)
if(NOT v EQUAL 3)
  message(FATAL_ERROR "toy-mdp rate: params.mdp.vocabulary is ${v}")
endif()
message(STATUS "rate: slope ${slope}, rft slope ${rft_slope}")

execute_process(COMMAND ${JUICE} toy-mdp robustness --vocabulary 3 --horizon 2 --prompts 2 --demonstrations 10
                        --seeds 2 --steps 10 --rft-iterations 5 --eps 0,0.4 --json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "toy-mdp robustness failed (${rc}): ${err}")
endif()
string(JSON rows LENGTH "${out}" rows)
if(NOT rows EQUAL 12)
  message(FATAL_ERROR "toy-mdp robustness: expected 12 rows (2 eps x 6 methods), got ${rows}")
endif()
foreach(key method eps true_reward_mean true_reward_se logprob_gap_mean win_rate_mean kl_to_expert_mean seeds
            win_rate_minus_sft_mean)
  string(JSON value GET "${out}" rows 2 ${key})
endforeach()
string(JSON seeds GET "${out}" rows 2 seeds)
if(NOT seeds EQUAL 2)
  message(FATAL_ERROR "toy-mdp robustness: seeds = ${seeds}")
endif()
