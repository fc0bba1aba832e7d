/* sampler.h: internal half of the samplers (engine/run/sampler.c): reading a
 * model's own sampling defaults from its files, for the model loader. The
 * public half (g4_sampler_*) is declared in gemma4.h under "Sampling".
 *
 * Order of the steps in g4_sampler_sample (llama.cpp's default chain):
 *   penalties (repetition, presence, frequency) -> logit bias -> top-k -> top-p
 *   -> min-p -> temperature -> random draw.
 * top-p is the nucleus of softmax(logits) over what top-k kept (over the whole
 * vocabulary when top_k is 0), before temperature, as in llama.cpp. Ties are
 * broken towards the lower token id everywhere (greedy, top-k, top-p). */
#ifndef G4_SAMPLER_H
#define G4_SAMPLER_H

#include "gemma4.h"
#include "model/gguf.h"

/* Checks that every field of p is in range (temperature finite and >= 0,
 * top_k >= 0, top_p in (0, 1], min_p in [0, 1], repeat_penalty > 0, ...).
 * Returns 0, or -1 with the offending field named in g4_last_error().
 * g4_sampler_new is more lenient in one place: a negative temperature there
 * means greedy, as in llama.cpp. */
int g4_sampling_validate(const g4_sampler_params *p);

/* Overrides fields of *p with the GGUF keys general.sampling.temp, .top_k,
 * .top_p, .min_p, .penalty_repeat and .penalty_last_n; absent keys keep the
 * current value. Returns 0, or -1 (error set; *p unchanged) when a key has the
 * wrong type or an out-of-range value. */
int g4_sampling_from_gguf(const g4_gguf *g, g4_sampler_params *p);

/* Overrides fields of *p with DIR/generation_config.json (temperature, top_k,
 * top_p, min_p, repetition_penalty; "do_sample": false means greedy, i.e.
 * temperature 0). A missing file changes nothing and returns 0; a malformed
 * file or an out-of-range value returns -1 with the file named in the error,
 * leaving *p unchanged. JSON null counts as absent. */
int g4_sampling_from_hf_dir(const char *dir, g4_sampler_params *p);

#endif
