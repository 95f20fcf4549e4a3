"""Which test stands behind each number the book glues: a table from glue-key patterns to tests.

Each entry is (pattern, tests, what): the keys the pattern matches in full, the tests (file::function) that
assert the property behind those numbers, and a few words on what ties them. tests/test_book.py checks that
every glued key matches an entry, that every entry matches a key, and that every test named exists.

Three kinds of entry tie numbers without a dedicated property test, and say so:
- ECHO: an input the chapter's code sets and shows (a matrix size, a rank, a step count), pasted so that the
  prose cannot drift from the code: tests/test_book.py checks that each pasted number is glued.
- CITED: a number quoted from a paper, with its source (tests/test_cited.py checks every one has one).
- TIMED: a timing on this machine; the harness's interleaving, ratios and verdict wording are what is tested.
"""

GLUED = "test_book.py::test_every_pasted_number_is_glued_and_every_glued_value_is_pasted"
CITED = ["test_cited.py::test_every_cited_number_names_a_source_in_the_bibliography"]
TIMED = [
    "test_lora.py::test_interleaved_timing_reports_every_variant_and_ratio_one_for_the_base",
    "test_lora.py::test_describe_ratio_says_only_what_the_spread_allows",
]
FIGURES = [
    "test_plots.py::test_figure_has_labelled_axes",
    "test_plots.py::test_glue_refuses_a_figure_whose_text_the_book_would_show_under_9_px",
]
ECHO = [GLUED]
EX = "test_exercises.py::"

GLUE_TESTS = [
    # every chapter
    (
        r"ch\w+_fig_\w+",
        FIGURES,
        "figures: labelled axes, and legible at the book's width (checked at glue time)",
    ),
    (
        r"ch\w+_chapter_s|ch8_(train|full)_s|ch9_make_min|ch7b_s_(fp32|nf4)",
        TIMED,
        "TIMED: seconds on this machine",
    ),
    (r"ch\w+_(transformers|peft|bnb|accelerate)_version", ECHO, "ECHO: the installed versions"),
    # 1. why fine-tune
    (
        r"ch1_(d|r|full|lora|ratio)",
        [
            "test_rank.py::test_seed_storage_example_is_d_times_k_against_r_times_d_plus_k",
            "test_rank.py::test_factor_shapes_count_what_low_rank_params_says",
        ],
        "counts",
    ),
    (r"ch1_ex_(adapter|copies)", [EX + "test_why_fine_tune_adapters_per_copy_against_peft"], "exercise"),
    (r"ch1_ex_break", [EX + "test_the_break_even_rank_is_the_last_that_saves"], "exercise"),
    # 2. rank
    (
        r"ch2_(rank_V|rank_Vt)",
        [
            "test_rank.py::test_seed_example_V_and_its_transpose_have_rank_one",
            "test_rank.py::test_row_rank_equals_column_rank",
        ],
        "",
    ),
    (
        r"ch2_outer_(exact|num)",
        [
            "test_rank.py::test_rounded_outer_product_has_exact_rank_above_numerical_rank",
            "test_rank.py::test_any_float_outer_product_has_numerical_rank_one",
        ],
        "",
    ),
    (
        r"ch2_hilbert_(exact|num|smin|tol)",
        [
            "test_rank.py::test_hilbert_matrix_is_invertible_but_numerically_singular",
            "test_rank.py::test_default_tolerance_matches_numpy_matrix_rank_convention",
        ],
        "",
    ),
    (r"ch2_(at_bound|gap_orders)", ["test_rank.py::test_rank_of_product_is_min_of_r_d_k"], "rank of BA"),
    (
        r"ch2_(dense|lowrank|saving)_100|ch2_(dense_4096|lowrank_4096_r16)",
        ["test_rank.py::test_seed_storage_example_is_d_times_k_against_r_times_d_plus_k"],
        "storage",
    ),
    (
        r"ch2_break_even_(100|4096)",
        ["test_rank.py::test_factors_are_cheaper_exactly_up_to_break_even_rank"],
        "",
    ),
    (
        r"ch2_(hilbert_n|d|k|draws|example_r|seed_d|seed_r|opt_d|opt_r)",
        ECHO,
        "ECHO: sizes and ranks the code sets",
    ),
    (r"ch2_ex_\w+", [EX + "test_rank_answers_against_sympy_and_the_count_by_hand"], "exercise"),
    # 3. SVD
    (
        r"ch3_(orth_U|orth_V|recon)",
        ["test_svd.py::test_svd_factors_are_orthonormal_descending_and_rebuild_A"],
        "",
    ),
    (r"ch3_ey_(frob|spec)_gap", ["test_svd.py::test_eckart_young_identities"], "Eckart–Young"),
    (r"ch3_best_rival_ratio", ["test_svd.py::test_no_rank_k_matrix_beats_truncated_svd"], ""),
    (
        r"ch3_gd_(excess|start_ratio)",
        ["test_svd.py::test_gradient_descent_on_BC_converges_to_the_bound_from_above"],
        "",
    ),
    (
        r"ch3_e(90|99)_(struct|gauss|image)",
        [
            "test_svd.py::test_rank_for_energy_is_the_smallest_k_that_reaches_the_target",
            "test_svd.py::test_energy_and_relative_error_are_consistent",
        ],
        "",
    ),
    (
        r"ch3_img_(err|storage)",
        [
            "test_svd.py::test_storage_ratio_counts_the_stored_factors",
            "test_plots.py::test_image_panels_say_error_and_storage_under_each",
        ],
        "",
    ),
    (r"ch3_cliff", ["test_svd.py::test_structured_matrix_has_a_cliff_at_r_and_gaussian_has_none"], ""),
    (
        r"ch3_(m|n|r_true|ks|rivals|draws|gd_steps|image_p|lo|hi|img_m|img_n|img_k|w_m|w_n)",
        ECHO,
        "ECHO: sizes, levels",
    ),
    (r"ch3_ex_\w+", [EX + "test_svd_answers_against_a_matrix_with_that_spectrum"], "exercise"),
    # 4. LoRA
    (r"ch4_(n_adapted|step0_diff)", ["test_lora.py::test_b_zero_gives_the_base_models_logits"], ""),
    (
        r"ch4_(merge_diff|roundtrip_diff)",
        ["test_lora.py::test_merge_then_unmerge_round_trips_and_merged_equals_unmerged"],
        "",
    ),
    (
        r"ch4_(dense|lora)_100|ch4_seed_d",
        ["test_rank.py::test_seed_storage_example_is_d_times_k_against_r_times_d_plus_k"],
        "",
    ),
    (
        r"ch4_opt_(trainable|total|pct|layers|d)|ch4_seed_(r|alpha|factor)",
        [
            "test_lora.py::test_opt_6_7b_counts_are_arithmetic_identities_of_the_config",
            "test_finetune.py::test_the_seed_profile_gives_the_seed_printout_on_a_meta_opt_6_7b",
        ],
        "the seed's printout",
    ),
    (r"ch4_seed_pct", CITED, "CITED: the seed's 12.5%"),
    (r"ch4_gpt3_ckpt_\w+", CITED, "CITED: the LoRA paper's checkpoint sizes for GPT-3"),
    (r"ch4_gpt3_(?!paper_)\w+", ["test_lora.py::test_gpt3_lora_count_and_reduction"], "GPT-3's counts"),
    (r"ch4_gpt3_paper_reduction", CITED, "CITED: the paper's rounded 10,000 times"),
    (r"ch4_all_linear_r128", ["test_lora.py::test_our_counter_equals_peft_on_an_opt_config"], ""),
    (r"ch4_t1_\w+", CITED, "CITED: the LoRA paper's Table 1"),
    (
        r"ch4_gpt2m_layers",
        ["test_printed_numbers.py::test_gpt2_medium_is_the_published_shape"],
        "GPT-2 medium",
    ),
    (r"ch4_(lat_\w+|v_\w+|base_ms_\w+|vs_peft\w*|bmax)", TIMED, "TIMED: latency ratios and their verdicts"),
    (r"ch4_k_(a|b)", ECHO, "ECHO: the counting tasks' steps, set by the code"),
    (
        r"ch4_acc_(own|other|base)",
        ["test_lora.py::test_two_adapters_on_one_frozen_base_each_learn_their_own_contradictory_task"],
        "modularity",
    ),
    (
        r"ch4_(base_kb|adapter_kb|opt_adapter_mb|opt_base_gb|opt_adapters_per_base)",
        [
            "test_lora.py::test_each_task_s_adapter_is_its_lora_parameters_in_fp32_beside_one_base",
            "test_lora.py::test_our_counter_equals_peft_on_an_opt_config",
            "test_formats.py::test_model_bytes_is_params_times_element_size",
        ],
        "bytes = parameters × element size",
    ),
    (r"ch4_ex_(model|r|all)", [EX + "test_lora_answers_against_peft"], "exercise"),
    (
        r"ch4_ex_(r_low|r_high|alpha|ar_low|ar_high|as_low|as_high)",
        [EX + "test_lora_answers_against_peft"],
        "exercise",
    ),
    # 5. memory
    (
        r"ch5_(bloom_claim_\w+|a100_gb|gpt3_paper_(full_tb|lora_gb|ratio)|seed_gpt3_ratio|zero_k|node|bloom_positions)",
        CITED,
        "CITED: the seed's, the papers' and the vendors' figures (a ratio: two cited figures' quotient)",
    ),
    (
        r"ch5_bloom_heads",
        ["test_printed_numbers.py::test_bloom_config_is_the_published_one"],
        "BLOOM's config",
    ),
    (
        r"ch5_adam8_block",
        ["test_printed_numbers.py::test_8_bit_adam_states_are_the_bytes_bitsandbytes_keeps"],
        "bitsandbytes' real 8-bit Adam state",
    ),
    (
        r"ch5_(zero_bpp|adam8_bpp|hf_bpp)",
        [
            "test_memory.py::test_full_finetune_costs_16_bytes_per_parameter_by_zero_and_18_by_hf",
            "test_memory.py::test_8_bit_adam_states_are_two_bytes_plus_block_scales",
        ],
        "",
    ),
    (
        r"ch5_(act_int8_gb|act_int8_ckpt_gb|ckpt_factor|nonre_gb)",
        [
            "test_memory.py::test_every_measured_component_matches_the_estimate",
            "test_memory.py::test_non_reentrant_checkpointing_keeps_what_bitsandbytes_holds_on_ctx",
        ],
        "activations",
    ),
    (
        r"ch5_(ratio_min|ratio_max|tol_exact|tol)",
        [
            "test_memory.py::test_the_stand_in_step_is_predicted_within_ten_percent",
            "test_memory.py::test_every_measured_component_matches_the_estimate",
        ],
        "",
    ),
    (
        r"ch5_(opt_params|full_peak_gb|seed_peak_gb|seed_ckpt_peak_gb|seed_gpu|seed_ckpt_gpu|full_over_seed)",
        [
            "test_memory.py::test_parameter_groups_are_exact_counts_of_the_config",
            "test_memory.py::test_peak_is_resident_plus_the_larger_of_backward_start_and_end",
            "test_memory.py::test_smallest_gpu_and_gpt3_shape",
        ],
        "the bill of the seed's step",
    ),
    (r"ch5_gpu_status", ["test_memory.py::test_the_gpu_script_runs_and_records_its_provenance"], ""),
    (
        r"ch5_bloom_(params|fp16_gb|min_cards|zero_tb|zero_cards_exact|zero_cards|hf_cards|implied_bpp)",
        ["test_memory.py::test_bloom_weights_need_five_a100s_and_full_finetuning_about_35"],
        "BLOOM",
    ),
    (
        r"ch5_bloom_tp_(first|second)",
        ["test_memory.py::test_tensor_parallel_sizes_divide_heads_hidden_and_vocabulary"],
        "",
    ),
    (
        r"ch5_bloom_(kv_mb|kv_room_min|kv_room_claim|act_mb|fill_zero|fill_hf|fill_hf_seqs)",
        [
            "test_memory.py::test_tokens_to_fill_is_the_budget_left_over_per_token_cost",
            "test_memory.py::test_components_scale_as_they_should",
        ],
        "",
    ),
    (
        r"ch5_gpt3_(params|full_tb|lora_gb|our_ratio|paper_bpp)",
        ["test_memory.py::test_smallest_gpu_and_gpt3_shape"],
        "GPT-3",
    ),
    (r"ch5_gpt3_r", CITED, "CITED: the rank LoRA's paper used on GPT-3 (§4.2)"),
    (
        r"ch5_(accum_total|accum_micro|accum_before_gb|accum_after_gb|ckpt_saved|lora_saved)",
        ["test_memory.py::test_every_technique_lowers_the_peak_and_accumulation_saves_memory_not_work"],
        "techniques",
    ),
    (r"ch5_nf4_block", ["test_memory.py::test_nf4_weights_are_half_a_byte_plus_one_scale_per_64"], ""),
    (r"ch5_(batch|seq|sb|ss)", ECHO, "ECHO: the seed's batch and length (lorabook.seed), the stand-in's"),
    (
        r"ch5_ex_\w+",
        [EX + "test_memory_answers_activations_grow_with_the_batch_and_8bit_adam_by_hand"],
        "exercise",
    ),
    # 6. number formats
    (
        r"ch6_(x|sign|exp_biased|bias|exp|mant|mant_hex|mant_frac|significand)",
        [
            "test_formats.py::test_0_15625_in_fp32_is_sign_0_exponent_124_mantissa_0x200000",
            "test_formats.py::test_0_15625_is_exact_in_each_16_and_32_bit_format",
        ],
        "the worked example",
    ),
    (r"ch6_(n_fp16)", ["test_formats.py::test_fp16_decoding_matches_numpy_on_all_65536_patterns"], ""),
    (
        r"ch6_(fp16_max|bf16_max|fp32_max|fp16_digits|bf16_digits|fp32_digits|fp16_min_normal|fp16_min_sub|bf16_min_sub)",
        ["test_formats.py::test_range_and_precision_agree_with_torch_finfo"],
        "",
    ),
    (
        r"ch6_(bf16_exp_bits|bf16_mant_bits|fp16_mant_bits|fp32_exp_bits|fp32_mant_bits|bf16_cut)",
        [
            "test_formats.py::test_field_widths_are_torch_s",
            "test_formats.py::test_bf16_keeps_fp32_exponent_range_with_fewer_mantissa_bits",
        ],
        "",
    ),
    (
        r"ch6_(big|big_square|overflow|overflow_bf16)",
        ["test_formats.py::test_fp16_overflows_to_inf_not_nan_at_10k_times_10k"],
        "",
    ),
    (
        r"ch6_(lost_fp16|lost_bf16|grad_median)",
        [
            "test_precision.py::test_fp16_loses_exactly_the_gradients_below_half_its_smallest_subnormal",
            "test_precision.py::test_bf16_loses_none_of_them_and_matches_torch",
        ],
        "",
    ),
    (
        r"ch6_(loss_scale|loss_scale_log2|lost_scaled)",
        ["test_precision.py::test_the_best_loss_scale_is_the_largest_power_of_two_that_overflows_nothing"],
        "",
    ),
    (
        r"ch6_(update|steps|half_gap|w_fp16|w_master)",
        [
            "test_precision.py::test_an_update_below_half_the_gap_never_moves_a_16_bit_weight_but_moves_its_master_copy"
        ],
        "",
    ),
    (
        r"ch6_(n_opt|n_bloom|opt_fp32_gb|opt_16_gb|bloom_16_gb|bloom_32_gb|bloom_a100s|a100_gb|seed_bloom_gpus)",
        [
            "test_formats.py::test_model_bytes_is_params_times_element_size",
            "test_cited.py::test_the_seeds_eight_cards_for_bloom_inference_are_the_weights_floor_rounded_up_to_one_node",
        ],
        "",
    ),
    (r"ch6_ex_\w+", [EX + "test_format_answers_against_numpy_and_torch"], "exercise"),
    # 7. int8
    (
        r"ch7_(xmin|absmax|scale|max_err|half_step)",
        [
            "test_quant.py::test_absmax_error_is_at_most_half_a_step",
            "test_quant.py::test_absmax_maps_the_largest_magnitude_to_127",
        ],
        "",
    ),
    (
        r"ch7_zp\w*",
        ["test_quant.py::test_zeropoint_error_is_at_most_half_a_step_and_uses_the_full_range"],
        "",
    ),
    (
        r"ch7_blog_\w+",
        ["test_quant.py::test_the_blog_example_error_is_0_00079_not_0_008"],
        "the blog's example",
    ),
    (r"ch7_max_h", ["test_quant.py::test_int8_matmul_accumulates_the_worst_case_without_overflow"], ""),
    (
        r"ch7_(err_tensor|err_vector|granularity_gain)",
        ["test_quant.py::test_vectorwise_beats_tensorwise_when_rows_differ_in_scale"],
        "",
    ),
    (
        r"ch7_(n_outlier_dims|magnitude|codes_with|codes_without|err_rows_with|err_rows_without)",
        ["test_quant.py::test_outlier_decomposition_is_far_more_accurate_than_vectorwise_int8"],
        "one outlier ruins a row",
    ),
    (r"ch7_c_(emerge|max_dims|up_to|share|speed)", CITED, "CITED: the LLM.int8() paper"),
    (r"ch7_n_layers", ECHO, "ECHO: the cut model's depth, set by the code"),
    (r"ch7_h", ["test_printed_numbers.py::test_each_opt_config_is_the_published_one"], "OPT-6.7B's width"),
    (r"ch7_c_tau", ["test_cited.py::test_the_llm_int8_threshold_is_the_papers_and_transformers_default"], ""),
    (
        r"ch7_(n_outliers_wide|int8_share|err_vw|err_llm|err_fp16|llm_gain|vw_err_m64|llm_err_m64|m_max)",
        [
            "test_quant.py::test_llm_int8_finds_exactly_the_outlier_columns",
            "test_quant.py::test_outlier_decomposition_is_far_more_accurate_than_vectorwise_int8",
        ],
        "LLM.int8()",
    ),
    (
        r"ch7_(tau_low|tau_gain|tau_low_share|vw_growth|m_growth)",
        [
            "test_quant.py::test_a_threshold_inside_the_ordinary_range_sends_more_to_fp16_and_errs_less",
            "test_quant.py::test_vectorwise_error_grows_slower_than_the_outliers_and_levels_off",
        ],
        "the threshold and the outliers' size",
    ),
    (
        r"ch7_(bnb_err|ours_err|ours_over_bnb|layout_diff|out_max|ulp)",
        [
            "test_quant.py::test_our_llm_int8_is_no_less_accurate_than_bitsandbytes",
            "test_quant.py::test_llm_int8_in_the_bitsandbytes_layout_agrees_with_bitsandbytes",
        ],
        "against bitsandbytes",
    ),
    (
        r"ch7_(train_gap|eval_gap|train_err)",
        ["test_quant.py::test_bitsandbytes_on_cpu_trains_with_weight_only_int8"],
        "",
    ),
    (
        r"ch7_(fp_fp32|fp_fp16|fp_int8|linear_ratio|scale_bytes|embed_share|q_ratio|d)",
        ["test_quant.py::test_int8_linear_weights_take_half_of_fp16_plus_one_fp32_scale_per_row"],
        "what int8 saves",
    ),
    (r"ch7_ex_\w+", [EX + "test_int8_answers_by_hand"], "exercise"),
    (
        r"ch7_real_(layers|tokens|qv_layers|dims|top_dim|top_layers|qv_max|share_max|down_max|sys_\w+)",
        [
            "test_smollm2.py::test_the_real_model_has_a_systematic_outlier_dimension",
            "test_smollm2.py::test_q_and_v_read_the_same_input",
        ],
        "outlier_dims, max |x| and token shares checked against a direct count; the systematic property",
    ),
    (
        r"ch7_real_(q_layer|q_vw|q_llm|q_bnb|q_gain|d_layer|d_vw|d_llm|d_bnb|d_dims|d_share)",
        [
            "test_smollm2.py::test_the_decomposition_beats_plain_int8_on_the_real_outlier_layers",
            "test_smollm2.py::test_a_layer_without_outliers_is_plain_vectorwise_int8",
            "test_quant.py::test_llm_int8_in_the_bitsandbytes_layout_agrees_with_bitsandbytes",
        ],
        "the decomposition on the real layers: ordering of the errors, its outlier columns",
    ),
    # 7b. NF4
    (
        r"ch7b_(offset|table_gap|n_levels|n_pos|n_neg|step_pos|step_neg)",
        [
            "test_nf4.py::test_nf4_code_is_bitsandbytes_table",
            "test_nf4.py::test_levels_sit_at_evenly_spaced_probabilities_on_each_side",
        ],
        "the code",
    ),
    (
        r"ch7b_cited_offset",
        CITED + ["test_nf4.py::test_offset_is_the_one_qlora_types"],
        "CITED: QLoRA's offset, against the one our code derives",
    ),
    (r"ch7b_(gpu|qlora_params)", CITED, "CITED: QLoRA's headline model and GPU"),
    (
        r"ch7b_(block|block2|absmax_bits)",
        ["test_nf4.py::test_the_block_sizes_are_qlora_s_and_bitsandbytes_defaults"],
        "QLoRA's block sizes",
    ),
    (
        r"ch7b_(n_values|deq_gap)",
        [
            "test_nf4.py::test_blockwise_codes_and_absmax_equal_bitsandbytes",
            "test_nf4.py::test_quantization_is_idempotent_and_exact_on_levels",
        ],
        "",
    ),
    (
        r"ch7b_(int4_gauss|fp4_gauss|int4_standin|fp4_standin)",
        [
            "test_nf4.py::test_nf4_has_the_smallest_error_on_gaussian_weights",
            "test_nf4.py::test_codes_int4_and_fp4",
        ],
        "",
    ),
    (
        r"ch7b_(entropy|share_max|share_min|share_equal)",
        ["test_nf4.py::test_usage_sums_to_one_and_entropy_is_at_most_four_bits"],
        "",
    ),
    (
        r"ch7b_ends_(mean|one)",
        ["test_nf4.py::test_every_block_has_its_absmax_on_an_extreme_level_and_more_land_there_by_rounding"],
        "",
    ),
    (
        r"ch7b_(big_rows|big_cols|bits|bits_dq|dq_saving|dq_error|opt_saving_gb)",
        [
            "test_nf4.py::test_bits_per_parameter_match_bitsandbytes_tensors",
            "test_printed_numbers.py::test_each_opt_config_is_the_published_one",
        ],
        "bits per parameter, on a matrix of OPT-6.7B's width",
    ),
    (
        r"ch7b_(nf4_bits|n_standin)",
        ["test_memory.py::test_the_stand_in_on_qlora_s_base_stores_what_the_estimate_predicts"],
        "the stand-in's linear weights, and the bytes of its NF4 base",
    ),
    (
        r"ch7b_(r|steps|n_quotes|em_fp32|em_int8|em_nf4|em_spread|loss_fp32|loss_nf4|mb_fp32|mb_int8|mb_nf4)",
        [
            "test_learned.py::test_the_shipped_seed_runs_record_what_measuring_them_now_gives",
            "test_learned.py::test_every_shipped_run_is_current",
            "test_learned.py::test_todays_code_redoes_the_first_steps_of_a_shipped_run",
        ],
        "the shipped int8 and NF4 runs",
    ),
    (
        r"ch7b_(n_seeds|seeds_\w+|bases_verdict)",
        [
            "test_truncation.py::test_spread_and_apart",
            "test_truncation.py::test_every_comparison_has_its_seeds_and_every_sweep_rate_two",
            "test_learned.py::test_a_replicate_keeps_what_was_measured_and_no_weights",
        ],
        "the bases over seeds",
    ),
    (
        r"ch7b_(update_ratio|adapter_kb)",
        [
            "test_learned.py::test_merging_the_nf4_run_requantizes_w0_plus_delta_and_keeps_its_quotes",
            "test_learned.py::test_every_shipped_run_is_current",
            "test_formats.py::test_model_bytes_is_params_times_element_size",
        ],
        "the shipped NF4 run's update and adapter size",
    ),
    (
        r"ch7b_(lost_median|lost_max|sep_loss|merged_loss|merged_em|repack_verdict|broken_loss)",
        [
            "test_nf4.py::test_requantized_merge_of_nothing_is_the_base",
            "test_learned.py::test_merging_the_nf4_run_requantizes_w0_plus_delta_and_keeps_its_quotes",
        ],
        "merging on a 4-bit base",
    ),
    (
        r"ch7b_(mem_batch|mem_seq|opt_int8|opt_nf4|66_int8|66_nf4|66_nf4dq)",
        [
            "test_memory.py::test_nf4_weights_are_half_a_byte_plus_one_scale_per_64",
            "test_memory.py::test_an_int8_nf4_and_double_quantized_base_differ_by_their_weights_alone",
        ],
        "",
    ),
    (r"ch7b_ex_\w+", [EX + "test_nf4_answers_by_hand"], "exercise"),
    (
        r"ch7b_(q_block|q_lo|q_hi|q_bits|q8_bits|q_tensors|q_all|q_worst)",
        [
            "test_smollm2.py::test_our_decoders_equal_the_gguf_package_on_every_tensor_of_the_file",
            "test_smollm2.py::test_bits_per_weight_is_what_the_file_stores",
            "test_smollm2.py::test_the_file_holds_each_linear_layer_in_q4_1_the_embedding_in_q8_0_and_the_norms_in_fp32",
            "test_smollm2.py::test_our_q4_1_encoder_writes_the_gguf_packages_bytes",
        ],
        "Q4_1 and Q8_0 decoded equal to gguf's; bits per weight from the file's bytes",
    ),
    (
        r"ch7b_real_(rows|q4|q4_gain|nf4|nf4_32|dq|dq_rel|int8|int8_gain|self|nf4_layer)",
        [
            "test_smollm2.py::test_the_schemes_bits_and_errors_against_their_references",
            "test_smollm2.py::test_weights_on_q4_1s_grid_come_back_exactly_and_other_formats_must_round",
        ],
        "each scheme's error against gguf's and bitsandbytes' own quantizers, and their ordering",
    ),
    # 8. the fine-tune
    (
        r"ch8_(params|corpus_chars|train_tokens|tokens_seen|passes|heldout|uniform|initial|ppl_ratio|pretrain_min|standin_mb)",
        [
            "test_standin.py::test_the_shipped_stand_in_was_made_by_todays_recipe_and_code",
            "test_standin.py::test_the_report_beats_uniform_guessing_on_held_out_documents",
        ],
        "the stand-in's report",
    ),
    (r"ch8_opt_ratio", ["test_memory.py::test_parameter_groups_are_exact_counts_of_the_config"], ""),
    (
        r"ch8_ctx_\w+",
        [
            "test_standin.py::test_the_shipped_context_measurement_is_what_todays_code_measures_at_todays_context",
            "test_standin.py::test_the_stand_in_uses_its_context",
            "test_standin.py::test_a_model_that_ignores_context_shows_no_gap",
        ],
        "context use: the report's gaps and context recomputed by today's code",
    ),
    (r"ch8_head_limit", ["test_standin.py::test_the_limit_is_no_worse_than_what_the_model_reaches"], ""),
    (
        r"ch8_(layer_type|fp_8bit|fp_full)",
        [
            "test_finetune.py::test_base_weights_are_int8_and_only_lora_trains",
            "test_finetune.py::test_load_base_keeps_each_decoder_linear_weight_in_one_byte_instead_of_four",
        ],
        "the 8-bit base's layers and footprint",
    ),
    (
        r"ch8_(manual_logits|peft_logits)",
        ["test_finetune.py::test_manual_preparation_and_peft_differ_only_where_documented"],
        "",
    ),
    (
        r"ch8_(trainable|total|opt_trainable|opt_total|opt_pct|all_linear_trainable|full_trainable|opt_adapter_mb)",
        [
            "test_finetune.py::test_the_seed_profile_gives_the_seed_printout_on_a_meta_opt_6_7b",
            "test_lora.py::test_our_counter_equals_peft_on_an_opt_config",
        ],
        "counts",
    ),
    (
        r"ch8_default_\w+",
        ["test_finetune.py::test_lora_config_defaults_are_the_ones_the_seed_lists"],
        "peft's defaults",
    ),
    (
        r"ch8_(warmup_share|seed_warmup_share|repeats)",
        ECHO,
        "ECHO: the profiles' warm-up and the timing's repeats",
    ),
    (
        r"ch8_download_gb",
        ["test_memory.py::test_parameter_groups_are_exact_counts_of_the_config"],
        "fp16 bytes",
    ),
    (r"ch8_map_\w+|ch8_n_many", TIMED, "TIMED: datasets' map, batched against one by one"),
    (
        r"ch8_(n_quotes|n_before|n_after|n_all_linear|n_full|steps|first_loss|last_loss|full_last_loss|steps_again)",
        [
            "test_finetune.py::test_the_seeds_recipe_learns_the_quotes_on_the_shipped_stand_in",
            "test_finetune.py::test_exact_match_counts_whole_continuations",
            "test_finetune.py::test_the_loss_decreases",
            "test_scoring_tables.py::test_a_run_s_summary_takes_each_field_from_its_result",
        ],
        "exact match and losses, taken from each run by finetune.scoring.summary",
    ),
    (
        r"ch8_(seed_batch|r|alpha|dropout)",
        ["test_finetune.py::test_the_stand_in_profile_keeps_the_seeds_lora_recipe"],
        "the profiles",
    ),
    (
        r"ch8_lr_(peak|last|last_share)",
        ["test_finetune.py::test_after_warm_up_the_rate_decays_linearly_to_zero_not_the_given_rate"],
        "the linear schedule",
    ),
    (
        r"ch8_(int8_\w+|n_seeds)",
        [
            "test_learned.py::test_the_shipped_seed_runs_record_what_measuring_them_now_gives",
            "test_learned.py::test_over_seeds_spreads_each_seed_s_measurement",
            "test_truncation.py::test_spread_and_apart",
            "test_learned.py::test_a_replicate_keeps_what_was_measured_and_no_weights",
        ],
        "the seed's int8 recipe over seeds",
    ),
    (r"ch8_(full_lr|variant_steps)", ECHO, "ECHO: the variants' rate and steps, set in finetune.config"),
    (
        r"ch8_(adapter_mb|full_mb|adapter_kb|base_mb|reload_diff|n_reloaded)",
        [
            "test_finetune.py::test_the_saved_files_hold_their_parameters_and_a_header",
            "test_finetune.py::test_the_adapter_is_saved_as_safetensors_and_reloads_to_the_same_logits",
            "test_finetune.py::test_full_fine_tuning_trains_every_weight_and_reloads",
            "test_scoring_tables.py::test_a_run_s_summary_takes_each_field_from_its_result",
        ],
        "save and reload",
    ),
    (
        r"ch8_(vram_weights|linear_b|rest_b|vram_lora|vram_peak|vram_seq)",
        [
            "test_memory.py::test_int8_weights_are_one_byte_plus_a_scale_per_row_plus_the_float_rest",
            "test_memory.py::test_measured_bytes_of_an_8_bit_base_equal_the_prediction",
        ],
        "",
    ),
    (
        r"ch8_seed_completion",
        ["test_cited.py::test_the_seeds_completion_is_quoted_whole"],
        "CITED: the seed's output",
    ),
    (r"ch8_ex_\w+", [EX + "test_finetune_answers_against_peft_on_the_stand_in"], "exercise"),
    # 8b. the real model
    (
        r"ch8b_(params_m|file_mb|layers|hidden|heads|kv_heads|int8_mb|fp32_mb|embed_mb)",
        [
            "test_smollm2.py::test_the_cached_copy_equals_a_fresh_dequantization_of_every_tensor",
            "test_smollm2.py::test_each_precision_loads_and_gives_the_same_next_token",
            "test_smollm2.py::test_the_installed_file_is_the_wheels",
        ],
        "the model and its file",
    ),
    (
        r"ch8b_(n_quotes|heldout_windows)",
        [
            "test_real_runs.py::test_the_real_model_is_measured_on_pep_20_and_every_fifteenth_held_out_window",
            "test_real_runs.py::test_every_run_moves_away_from_the_model_before_the_fine_tune",
        ],
        "what the runs are measured on",
    ),
    (
        r"ch8b_(em_before|quotes_before|heldout_before|heldout_before_fp32)",
        [
            "test_real_runs.py::test_every_run_moves_away_from_the_model_before_the_fine_tune",
            "test_real_runs.py::test_the_held_out_loss_rises_with_lora_s_rate_and_so_does_what_it_learns",
        ],
        "the measurements before the fine-tune (evaluate), the baseline every rate run rises from",
    ),
    (
        r"ch8b_(r|alpha|dropout|seed_rows|seed_lr|lr|steps|seed_steps|warmup|seed_warmup)",
        ["test_real_runs.py::test_the_profile_differs_from_the_seed_only_where_it_says"],
        "the profile against the seed's recipe",
    ),
    (
        r"ch8b_(trainable|trainable_pct|live_em|live_diff_text|full_trainable|full_mb|adapter_mb)",
        [
            "test_real_runs.py::test_a_run_made_now_is_the_shipped_one_and_learns_the_quotes",
            "test_real_runs.py::test_the_runs_count_what_peft_counts_and_save_what_they_train",
        ],
        "a run made now against the shipped one; counts against the closed form",
    ),
    (r"ch8b_(train_s|step_s|step_ratio)", TIMED, "TIMED: seconds on this machine"),
    (r"ch8b_prompt", ECHO, "ECHO: the seed's prompt"),
    (
        r"ch8b_pattern\w*",
        [
            "test_real_runs.py::test_the_adapter_answers_unrelated_prompts_with_pep_20s_pattern_and_full_fine_tuning_does_not"
        ],
        "",
    ),
    (
        r"ch8b_stopped_(after|before)",
        ["test_real_runs.py::test_after_the_fine_tune_the_model_ends_its_completions"],
        "completions that end before the token limit",
    ),
    (
        r"ch8b_(n_seeds|n_full|em_med|em_min|em_max|full_em_med)",
        ["test_real_runs.py::test_the_recipe_learns_the_quotes_over_at_least_three_seeds"],
        "exact match over seeds",
    ),
    (
        r"ch8b_(full_lr|lr_over_full)",
        ["test_real_runs.py::test_the_runs_configurations"],
        "full fine-tuning's one rate, far below LoRA's",
    ),
    (r"ch8b_cited_lr_ratio", CITED, "CITED: LoRA Without Regret"),
    (
        r"ch8b_(n_after|n_prompts|max_new|prompt_empty)",
        ["test_real_runs.py::test_after_the_fine_tune_the_model_ends_its_completions"],
        "the prompts, and completions that end before the token limit",
    ),
    (
        r"ch8b_full_seed_diff",
        ["test_real_runs.py::test_full_fine_tuning_draws_nothing_at_random_and_lora_does"],
        "",
    ),
    (
        r"ch8b_(held_med|held_min|held_max|full_held_med)",
        ["test_real_runs.py::test_lora_at_its_rate_forgets_more_than_full_fine_tuning_at_its_own"],
        "the held-out ranges do not overlap",
    ),
    (
        r"ch8b_(rate_seed|rate_lo|rate_lo_em|rate_lo_held|rate_hi_held|seedlr_em)",
        ["test_real_runs.py::test_the_held_out_loss_rises_with_lora_s_rate_and_so_does_what_it_learns"],
        "",
    ),
    (r"ch8b_ex_\w+", [EX + "test_real_answers_against_peft_and_the_file"], "exercise"),
    # 9. what LoRA learned
    (
        r"ch9_(steps|lr|dropout|gamma|full_steps|full_lr|n_runs|n_quotes|heldout_windows|level|r1|r2|r4|r8|r|r64|k|budget|"
        r"layer|top|seeds_top|threshold|n_matrices|alpha|rs_alpha|n_linear|n_blocks)",
        [
            "test_learned.py::test_every_shipped_run_is_current",
            "test_learned.py::test_runs_at_one_budget_train_about_as_many_parameters",
            "test_learned.py::test_the_rank_ablation_is_the_lora_paper_s_ranks_and_the_seed_s",
            "test_learned.py::test_the_shipped_seed_runs_record_what_measuring_them_now_gives",
            "test_learned.py::test_full_run_delta_is_the_fine_tuned_model_minus_w0",
        ],
        "the runs' configuration (run keys), what they are measured on, and the matrices they change",
    ),
    (
        r"ch9_(n_seeds|seed42|seed_list|n_sweep_seeds|model_dropout)",
        [
            "test_truncation.py::test_every_comparison_has_its_seeds_and_every_sweep_rate_two",
            "test_learned.py::test_full_fine_tuning_draws_nothing_at_random_so_its_seeds_agree",
        ],
        "the seeds every comparison is trained at",
    ),
    (
        r"ch9_(full_rank90_\w+|gaussian_rank90|lora_rank90_median|lora64_rank90_\w+|err16_\w+|energy16|lora_tail)",
        [
            "test_delta.py::test_lora_delta_has_rank_at_most_r_and_its_energy_is_exhausted_at_r",
            "test_learned.py::test_full_run_delta_is_the_fine_tuned_model_minus_w0",
            "test_learned.py::test_lora_deltas_are_what_peft_merges_and_have_rank_at_most_r",
        ],
        "spectra",
    ),
    (
        r"ch9_(kept_\w+|full_em\w*|cut\w+|before_\w+)",
        [
            "test_truncation.py::test_truncate_is_eckart_young_against_numpy",
            "test_truncation.py::test_truncated_model_is_the_base_plus_the_other_changes_at_zero_and_full_fine_tuning_at_full_rank",
            "test_truncation.py::test_kept_at_is_the_rank_from_which_every_quote_stays",
            "test_learned.py::test_measure_missing_adds_metrics_to_an_old_record_and_keeps_its_key",
        ],
        "the truncation test: ΔW cut to rank r, measured at each seed",
    ),
    (
        r"ch9_part_\w+",
        [
            "test_truncation.py::test_parts_split_the_update_without_overlap_except_attention",
            "test_learned.py::test_no_part_of_full_fine_tuning_s_update_alone_keeps_its_quotes",
            "test_truncation.py::test_spread_and_apart",
        ],
        "which parameters carry full fine-tuning's learning",
    ),
    (
        r"ch9_rel_\w+",
        ["test_truncation.py::test_relation_of_an_update_to_itself_and_to_an_orthogonal_one"],
        "LoRA's ΔW against full fine-tuning's",
    ),
    (
        r"ch9_(em_\w+|small|worst_target|spread_\w+|loss64_\w+|loss4_\w+)",
        [
            "test_learned.py::test_the_shipped_seed_runs_record_what_measuring_them_now_gives",
            "test_learned.py::test_a_replicate_keeps_what_was_measured_and_no_weights",
            "test_finetune.py::test_exact_match_counts_whole_continuations",
            "test_truncation.py::test_spread_and_apart",
        ],
        "evaluations of the shipped runs, over seeds",
    ),
    (r"ch9_(step\w+|claim8)", TIMED, "TIMED: a training step by rank, interleaved"),
    (
        r"ch9_(best_\w+|ratio_\w+|grid_step|pareto_\w+)",
        [
            "test_truncation.py::test_best_rate_is_the_smallest_that_learns_the_most_and_noise_reads_the_ranges",
            "test_truncation.py::test_every_comparison_has_its_seeds_and_every_sweep_rate_two",
            "test_learned.py::test_the_shipped_seed_runs_record_what_measuring_them_now_gives",
        ],
        "the learning-rate sweep and each method's best rate",
    ),
    (
        r"ch9_(phi_\w+|cos_\w+|v11_\w+|q11_median)",
        [
            "test_delta.py::test_phi_of_random_subspaces_matches_max_i_j_over_k",
            "test_delta.py::test_phi_is_one_for_the_same_subspace_and_in_the_unit_interval",
        ],
        "φ",
    ),
    (r"ch9_moved_(min|max)", ["test_learned.py::test_initial_factors_are_the_ones_a_run_starts_from"], ""),
    (r"ch9_cited_(amp\w*|phi|lr_ratio)", CITED, "CITED: the LoRA paper; LoRA Without Regret"),
    (
        r"ch9_(amp\w+|onto_ratio4|w0_norm|lora_norm|full_norm)",
        [
            "test_delta.py::test_amplification_is_one_when_delta_is_w0s_own_top_part",
            "test_delta.py::test_amplification_grows_as_delta_points_away_from_w0",
            "test_learned.py::test_the_shipped_seed_runs_record_what_measuring_them_now_gives",
        ],
        "amplification, measured on the shipped runs as their records say",
    ),
    (
        r"ch9_(intruders_\w+|intr_\w+|checked|big_\w+)",
        [
            "test_delta.py::test_intruder_dimensions_are_new_strong_directions",
            "test_learned.py::test_the_book_s_intruder_detector_is_peft_s",
            "test_learned.py::test_the_shipped_seed_runs_record_what_measuring_them_now_gives",
        ],
        "intruder dimensions, the book's detector against peft's, counted on the shipped runs as recorded",
    ),
    (r"ch9_ex_\w+", [EX + "test_learned_chance_level_against_random_subspaces"], "exercise"),
    # 10. LoRA's family
    (
        r"ch10_(largest_diff|n_variants)",
        [
            "test_family_runs.py::test_each_variant_equals_peft_on_a_stand_in_weight",
            "test_family_runs.py::test_a_wrong_scale_or_a_norm_with_a_graph_shows_as_a_difference",
        ],
        "the book's variants against peft's on a stand-in weight; the comparison can fail",
    ),
    (
        r"ch10_(r|alpha|steps|lr|n_seeds|seeds|threads)",
        [
            "test_family_runs.py::test_run_configs_change_one_switch_of_the_learned_chapter_s_run",
            "test_family_runs.py::test_every_shipped_family_run_and_the_timing_are_current",
        ],
        "the runs' configuration (run keys)",
    ),
    (
        r"ch10_vera_r",
        ["test_family_runs.py::test_the_pipeline_builds_peft_s_config_for_each_switch"],
        "VeRA's rank, in the VeraConfig the pipeline builds",
    ),
    (
        r"ch10_lambda",
        ["test_family_runs.py::test_loraplus_in_the_pipeline_gives_b_lambda_times_a_s_rate"],
        "LoRA+'s λ, as the ratio of B's rate to A's in the optimizer the pipeline builds",
    ),
    (
        r"ch10_rounds",
        ["test_family_runs.py::test_summary_is_the_spread_of_the_records"],
        "the timing's rounds: a spread of that many ratios per variant",
    ),
    (
        r"ch10_s_(lora|rs|ratio)",
        ["test_family.py::test_the_scales", "test_family.py::test_output_and_gradients_equal_peft"],
        "α/r and α/√r, each equal to peft's",
    ),
    (
        r"ch10_(lora_trainable|dora_extra|vera_trainable)",
        ["test_family_runs.py::test_trainable_counts_are_the_variants_formulas"],
        "r(d + k), d and r + d per matrix, against what the runs trained",
    ),
    (
        r"ch10_(vera_opt|lora_opt)",
        [
            "test_family.py::test_vera_against_lora_on_opt_6_7b",
            "test_family.py::test_vera_on_opt_6_7b_trains_and_stores_what_peft_does",
        ],
        "as peft counts on meta",
    ),
    (
        r"ch10_q_\w+",
        [
            "test_family_runs.py::test_qpissa_quantizes_the_stand_in_s_weights_with_less_error_than_qlora",
            "test_family.py::test_qpissa_residual_quantizes_with_a_smaller_nf4_error",
        ],
        "QPiSSA's NF4 error against QLoRA's",
    ),
    (r"ch10_make_min", TIMED, "TIMED: the runs' training seconds"),
    (
        r"ch10_vera_shared_(opt|standin)",
        [
            "test_family.py::test_vera_on_opt_6_7b_trains_and_stores_what_peft_does",
            "test_family.py::test_vera_against_lora_on_opt_6_7b",
            "test_family.py::test_vera_shared_projections_and_initial_vectors_equal_peft",
        ],
        "r·k_max + d_max·r, the shared pair peft saves",
    ),
    (
        r"ch10_(warmup|n_rates|sweep_seeds)",
        [
            "test_family_runs.py::test_run_configs_change_one_switch_of_the_learned_chapter_s_run",
            "test_family_runs.py::test_every_shipped_family_run_and_the_timing_are_current",
        ],
        "the runs' configuration and the sweep's grid (run keys)",
    ),
    (
        r"ch10_chance",
        [
            "test_family_runs.py::test_chance_disjoint_counts_the_orderings_where_one_setting_s_runs_all_come_first"
        ],
        "2 / C(n + m, n), against a count of orderings",
    ),
    (
        r"ch10_(lp_\w+|first_loss)",
        [
            "test_family_runs.py::test_turning_point_is_the_minimum_of_the_median_curve",
            "test_family_runs.py::test_lead_is_the_first_stretch_of_steps_where_a_variant_is_lowest",
            "test_family_runs.py::test_at_lora_s_rate_loraplus_first_falls_fastest_then_climbs_back_and_forgets_past_the_base",
            "test_family_runs.py::test_pissa_and_olora_start_from_another_loss_only_because_dropout_drops_their_principal_part",
        ],
        "LoRA+'s curve: where it leads, turns and ends; the first loss",
    ),
    (
        r"ch10_best_\w+",
        [
            "test_family_runs.py::test_best_rate_is_the_smallest_that_learns_the_most_or_else_the_lowest_quotes_loss",
            "test_family_runs.py::test_summary_at_best_rates_reads_the_runs_at_those_rates",
            "test_family_runs.py::test_at_their_own_rates_fewer_variants_fall_short_and_none_learns_more",
            "test_family_runs.py::test_most_variants_forget_more_at_their_best_rates_dora_by_its_rate_olora_by_itself",
            "test_family_runs.py::test_rslora_and_loraplus_learn_best_below_lora_s_rate_and_there_match_it",
            "test_family_runs.py::test_vera_s_best_rate_is_the_grid_s_largest_and_it_learns_some_quotes_there",
            "test_family_runs.py::test_against_sorts_by_disjoint_ranges_only",
            "test_family_runs.py::test_summary_is_the_spread_of_the_records",
            "test_family_runs.py::test_every_shipped_family_run_and_the_timing_are_current",
        ],
        "each variant at its own best rate, over seeds",
    ),
    (
        r"ch10_both_\w+",
        [
            "test_family_runs.py::test_rslora_pissa_olora_and_loraplus_forget_more_than_lora_and_dora_as_much",
            "test_family_runs.py::test_vera_learns_fewer_quotes_and_forgets_less_than_lora_at_every_seed",
            "test_family_runs.py::test_against_sorts_by_disjoint_ranges_only",
        ],
        "held-out loss against LoRA's range, on both models",
    ),
    (
        r"ch10_real_(steps|lr|seeds)",
        [
            "test_family_runs.py::test_run_configs_change_one_switch_of_the_learned_chapter_s_run",
            "test_family_runs.py::test_every_shipped_family_run_and_the_timing_are_current",
        ],
        "the real model's runs' configuration (run keys)",
    ),
    (
        r"ch10_real_(em_\w+|fl_\w+|ho_\w+|base_heldout)",
        [
            "test_family_runs.py::test_fine_tuning_raises_the_held_out_loss_above_the_base_model_s_except_vera_s_on_smollm2",
            "test_family_runs.py::test_summary_is_the_spread_of_the_records",
            "test_family_runs.py::test_against_sorts_by_disjoint_ranges_only",
            "test_family_runs.py::test_todays_code_redoes_the_first_steps_of_each_shipped_run",
            "test_family_runs.py::test_on_smollm2_dora_and_pissa_stay_inside_lora_s_range",
            "test_real_runs.py::test_every_shipped_run_is_current",
        ],
        "the real model's shipped runs over seeds, read against LoRA's range",
    ),
    (
        r"ch10_(em_\w+|fl_\w+|ho_\w+|base_heldout)",
        [
            "test_family_runs.py::test_fine_tuning_raises_the_held_out_loss_above_the_base_model_s_except_vera_s_on_smollm2",
            "test_family_runs.py::test_summary_is_the_spread_of_the_records",
            "test_family_runs.py::test_against_sorts_by_disjoint_ranges_only",
            "test_family_runs.py::test_todays_code_redoes_the_first_steps_of_each_shipped_run",
            "test_family_runs.py::test_no_variant_reproduces_more_quotes_than_lora_at_every_seed",
            "test_family_runs.py::test_pissa_ends_with_a_lower_training_loss_than_lora_at_every_seed_on_the_stand_in",
            "test_family_runs.py::test_at_lora_s_rate_pissa_ends_with_the_lowest_training_loss_and_at_its_own_overlaps_lora",
            "test_family_runs.py::test_at_lora_s_rate_vera_moves_little_and_learns_no_quote",
            "test_family_runs.py::test_at_lora_s_rate_loraplus_rslora_and_dora_learn_fewer_quotes_on_the_stand_in",
            "test_truncation.py::test_spread_and_apart",
        ],
        "the shipped runs over seeds, read against LoRA's range",
    ),
    (
        r"ch10_st_\w+",
        [
            "test_family_runs.py::test_summary_is_the_spread_of_the_records",
            "test_family_runs.py::test_against_sorts_by_disjoint_ranges_only",
            "test_family_runs.py::test_ratios_are_taken_within_each_round",
            "test_family_runs.py::test_step_times_interleave_every_variant_and_a_control_in_shuffled_order",
            "test_family_runs.py::test_a_dora_step_takes_longer_than_a_lora_step_in_every_round",
        ],
        "TIMED: a step of each variant, interleaved, as ratios to LoRA's",
    ),
    (
        r"ch10_ex_\w+",
        [
            "test_family.py::test_vera_on_opt_6_7b_trains_and_stores_what_peft_does",
            "test_family.py::test_vera_parameter_count_equals_peft_on_the_tiny_opt",
            "test_family_runs.py::test_chance_disjoint_counts_the_orderings_where_one_setting_s_runs_all_come_first",
        ],
        "exercise: VeRA's counts as peft counts them; the chance of disjoint ranges, counted",
    ),
    # 11. When it goes wrong
    (
        r"ch11_up_(fp16_mb|fp32_mb|manual_fp32_mb)",
        [
            "test_pitfalls.py::test_peft_upcasts_every_non_quantized_parameter_and_the_manual_way_only_the_norms_and_biases"
        ],
        "peft's fp32 upcast against the manual preparation, by dtype, and the formula they agree with",
    ),
    (
        r"ch11_up_opt_gb",
        [
            "test_pitfalls.py::test_the_upcast_on_opt_6_7b_is_two_more_bytes_for_each_parameter_outside_the_layers_linear_weights"
        ],
        "two more bytes per non-quantized parameter, counted on the meta model",
    ),
    (
        r"ch11_ckpt_\w+",
        [
            "test_pitfalls.py::test_reentrant_checkpointing_leaves_lora_without_a_gradient_and_either_fix_gives_the_true_one"
        ],
        "no gradient under reentrant checkpointing; either fix gives the gradient without checkpointing",
    ),
    (
        r"ch11_merge_\w+",
        [
            "test_pitfalls.py::test_merging_into_int8_or_the_original_moves_the_logits_and_into_the_dequantized_copy_does_not"
        ],
        "the three merges against the trained weights",
    ),
    (
        r"ch11_(opt|llama)_names|ch11_partial",
        ["test_pitfalls.py::test_wrong_target_names_raise_and_the_model_s_own_names_work"],
        "the error, and the names that work, on OPT and Llama",
    ),
    (
        r"ch11_size_(lora_mb|mts_mb|tti_mb|ratio|opt_mb)",
        [
            "test_pitfalls.py::test_modules_to_save_saves_the_whole_embedding_and_token_indices_only_their_rows"
        ],
        "the saved sizes against the embedding's and the new rows' bytes",
    ),
    (
        r"ch11_size_opt_lora_mb",
        ["test_lora.py::test_opt_6_7b_counts_are_arithmetic_identities_of_the_config"],
        "the seed's LoRA count on OPT-6.7B, in fp16",
    ),
    (
        r"ch11_tie_\w+",
        [
            "test_pitfalls.py::test_a_tied_head_trained_as_a_copy_comes_apart_and_ensure_weight_tying_keeps_it_tied"
        ],
        "the warnings, the gap after a step, and ensure_weight_tying's zero gap on SmolLM2",
    ),
    (
        r"ch11_alpha_\w+",
        [
            "test_pitfalls.py::test_scaling_by_alpha_grows_the_first_step_with_r_alpha_over_r_shrinks_it_rslora_holds_it"
        ],
        "the first step's size against r for each scale",
    ),
    (
        r"ch11_fp16_\w+",
        [
            "test_pitfalls.py::test_fp16_adapters_fail_the_grad_scaler_peft_s_autocast_fixes_lora_but_not_a_module_to_save"
        ],
        "the scaler's refusal, peft's fp32 adapters, and the step's size where it runs",
    ),
]
