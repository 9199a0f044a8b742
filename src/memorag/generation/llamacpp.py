"""LlamaCppGenerator: chat generation with llama.cpp inside this process (llama-cpp-python), for GGUF models.

LocalGenerator's recipe on the quantized weights as they are (LocalGenerator dequantizes them into torch): the
GGUF's own chat template rendered with transformers' Jinja settings, so both feed a model the same prompt token
ids; exact token counts and middle cuts on llama.cpp's tokenizer; greedy decoding at temperature 0,
deterministic for a given build and thread count (the KV cache is cleared before each prompt, so one answer
never depends on the one before). Quantized matmuls give slightly other logits than dequantized float32 ones,
so after a near tie a greedy answer can differ from LocalGenerator's.

The repetition penalty counts generated tokens only, as LocalGenerator's does, and runs as a llama-cpp-python
logits processor (numpy over the vocabulary, once per token). llama.cpp's own `repeat_penalty` stays off (1.0):
it penalizes the last `last_n_tokens_size` (64) tokens, prompt included, i.e. at the first answer tokens the
question's last words and the chat template's tokens, which is what LocalGenerator avoids (on three short
SmolLM2 checks the answers came out the same either way).

Quiet: llama.cpp's log goes to the Python logger "memorag.llamacpp" (a NullHandler: shown only where the
application configures logging), not to stderr; `memorag --verbose` (memorag.quiet) prints it as well. llama-cpp-python's own log callback, which this replaces
process-wide, still maps llama.cpp's older level numbers: with verbose=False it prints warnings (Gemma 3's KV
cache note) and hides errors. A model that fails to load quotes llama.cpp's error lines in its
UnknownModelError. One Llama per (model, n_ctx, threads, weights) per process, used by one call at a time.

Weights: a quantized GGUF of a small model runs from a float16 copy that llama.cpp writes once into the weights
cache (memorag.weights_cache, dtype "gguf-float16"). On two CPU cores llama.cpp reads SmolLM2-135M's prompt
about 2x faster from float16 than from its Q4_1 file (its float16 matmuls take the llamafile kernels; Q4_1
multiplies through 8-bit activations), decodes as fast, and its logits are those of the dequantized model
(top-1 agreement with transformers' float32 0.998, against 0.973 for Q4_1 itself): docs/benchmarks.md. "auto" makes the
copy for quantized files up to F16_COPY_UP_TO bytes (models of about 1.5B parameters or fewer); a larger model stays
quantized, as its memory demands; "file" always runs the file as given, "float16" always copies.
Does not offload to a GPU, batch prompts, or stop on strings other than end-of-generation tokens.
"""

from __future__ import annotations

import codecs
import collections
import functools
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from memorag.config import LLAMACPP_WEIGHTS
from memorag.errors import GenerationError, UnknownModelError
from memorag.generation.base import Messages, check_messages, fit_messages, head_and_tail, prompt_budget
from memorag.generation.local import plain_prompt
from memorag.models import EMBEDDED, resolve
from memorag.quiet import is_verbose

GGUF_NAMES = sorted(name for name, spec in EMBEDDED.items() if spec[3].endswith(".gguf"))
F16_COPY_UP_TO = 1 << 30  # bytes of the quantized file: about 1.5B parameters at 4-5 bits
COPY_DTYPE = "gguf-float16"  # the weights cache's dtype key of the copies
FLOAT_FILE_TYPES = (0, 1, 32)  # general.file_type of llama.cpp's ALL_F32, MOSTLY_F16, MOSTLY_BF16: kept as they are
# enum ggml_log_level of this llama.cpp: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues a line)
LOG_LEVELS = {0: logging.INFO, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}

log = logging.getLogger("memorag.llamacpp")
log.addHandler(logging.NullHandler())
_recent_errors: collections.deque[str] = collections.deque(maxlen=3)  # for load failures' messages
_log_callback: Any = None  # the ctypes callback; kept referenced while llama.cpp may call it


def gguf_path(name: str) -> Path:
    """The .gguf file `name` resolves to, or UnknownModelError saying what llama.cpp can load instead."""
    source = resolve(name)
    if source.gguf_file is None:
        raise UnknownModelError(
            f"model {name!r} is not a GGUF file; the llamacpp backend loads a .gguf file or an embedded GGUF "
            f"name {GGUF_NAMES}; use backend 'local' for transformers models"
        )
    return Path(source.path) / source.gguf_file


def runtime_gguf(name: str, weights: str = "auto") -> Path:
    """The .gguf file llama.cpp should run for `name`: its float16 copy in the weights cache (written on first use)
    or the file itself (see the module's "Weights")."""
    if weights not in LLAMACPP_WEIGHTS:
        raise ValueError(f"llamacpp weights must be one of {LLAMACPP_WEIGHTS}, not {weights!r}")
    source = gguf_path(name)
    if weights == "file" or (weights == "auto" and source.stat().st_size > F16_COPY_UP_TO):
        return source
    from memorag import weights_cache

    folder = weights_cache.cached_weights(resolve(name).fingerprint(), COPY_DTYPE, str(source),
                                          functools.partial(_write_float16_copy, source))
    copy = folder / COPY_FILE if folder is not None else None
    return copy if copy is not None and copy.is_file() else source  # no copy: a float file, or a foreign folder


COPY_FILE = "model.gguf"


def _write_float16_copy(source: Path, folder: Path) -> None:
    """Fill a weights-cache folder: llama.cpp's own quantizer rewrites `source` as float16 (dequantizing it);
    a file that is already float leaves the folder without model.gguf, so it is run as it is."""
    import gguf

    try:
        field = gguf.GGUFReader(str(source)).fields.get("general.file_type")
    except Exception as exc:  # gguf raises ValueError, struct.error, IndexError... for a file that is not GGUF
        raise UnknownModelError(
            f"llama.cpp could not load model {source.name!r} from {source} (not a readable GGUF file: "
            f"{exc.__class__.__name__}: {str(exc)[:200]}); give an intact .gguf file or an embedded GGUF name "
            f"{GGUF_NAMES}, or use backend 'local'"
        ) from exc
    if field is not None and int(field.parts[field.data[0]][0]) in FLOAT_FILE_TYPES:
        (folder / "float-file.json").write_text('{"run": "the file as given"}\n', encoding="utf-8")
        return
    import ctypes

    import llama_cpp

    route_llama_log(llama_cpp)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_F16
    params.allow_requantize = True
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(folder / COPY_FILE).encode(),
                                            ctypes.byref(params))
    if status != 0:
        raise UnknownModelError(
            f"llama.cpp could not convert {source} to float16 (status {status}; {'; '.join(_recent_errors)}); "
            "run it as it is with llamacpp weights 'file'"
        )


@functools.lru_cache(maxsize=4)
def load_llama(
    name: str, n_ctx: int = 0, n_threads: int | None = None, weights: str = "auto"
) -> tuple[Any, threading.Lock]:
    """(llama_cpp.Llama, its lock) once per process per key; n_ctx 0 means the model's training window."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise GenerationError(
            "the llamacpp backend needs llama-cpp-python: run `pip install llama-cpp-python`, "
            "or use backend 'local'"
        ) from exc
    route_llama_log(llama_cpp)
    path = runtime_gguf(name, weights)
    _recent_errors.clear()
    try:
        llama = llama_cpp.Llama(
            str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, verbose=is_verbose()
        )
    except (ValueError, RuntimeError) as exc:
        reason = "; ".join(_recent_errors) or str(exc)
        raise UnknownModelError(
            f"llama.cpp could not load model {name!r} from {path} ({reason}); give an intact .gguf file of an "
            f"architecture this llama.cpp supports or an embedded GGUF name {GGUF_NAMES}, or use backend 'local'"
        ) from exc
    return llama, threading.Lock()


def route_llama_log(llama_cpp: Any) -> None:
    """Send llama.cpp's (and ggml's) log lines to `log` at their own levels instead of stderr; once per process."""
    global _log_callback
    if _log_callback is not None:
        return
    last_level = [logging.INFO]

    def forward(level: int, text: bytes, user_data: Any) -> None:
        python_level = last_level[0] if level == 5 else LOG_LEVELS.get(level, logging.INFO)
        last_level[0] = python_level
        line = text.decode("utf-8", errors="replace").strip()
        if line and python_level >= logging.ERROR:
            _recent_errors.append(line)
        if line:
            log.log(python_level, "%s", line)
        if is_verbose():
            sys.stderr.write(text.decode("utf-8", errors="replace"))

    _log_callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(_log_callback, None)


def generated_repetition_penalty(penalty: float, prompt_length: int) -> Any:
    """A llama-cpp-python logits processor: the CTRL penalty (Keskar et al. 2019) on generated tokens only."""
    import numpy as np

    def apply(input_ids: Any, scores: Any) -> Any:  # input_ids (T,) prompt then generated; scores (V,)
        generated = np.unique(input_ids[prompt_length:])
        if generated.size == 0:
            return scores
        scores = scores.copy()
        picked = scores[generated]
        scores[generated] = np.where(picked < 0, picked * penalty, picked / penalty)
        return scores

    return apply


class LlamaCppGenerator:
    """A Generator backed by llama.cpp on a GGUF model: an embedded name ("smollm2") or a .gguf file.

    context_window is the model's training window (n_ctx_train), or the smaller `context_window` given here;
    llama.cpp allocates its KV cache for the window given (the training one when none is). n_threads None lets
    llama-cpp-python choose (half the cores for generation, all of them for the prompt). `weights`: "auto",
    "float16" or "file" (the module's "Weights").
    """

    def __init__(
        self,
        model: str = "smollm2",
        context_window: int | None = None,
        n_threads: int | None = None,
        repetition_penalty: float = 1.1,
        weights: str = "auto",
    ) -> None:
        if repetition_penalty <= 0:
            raise ValueError(
                f"repetition_penalty must be positive (1.0 turns it off), not {repetition_penalty}"
            )
        self.model_id = model
        self.repetition_penalty = repetition_penalty
        self._llama, self._lock = load_llama(model, context_window or 0, n_threads, weights)
        import llama_cpp  # importable: load_llama said what to install otherwise

        own_window = int(llama_cpp.llama_model_n_ctx_train(self._llama.model))
        self.context_window = min(own_window, context_window) if context_window else own_window
        self._template = self._chat_formatter()

    def count_tokens(self, text: str) -> int:
        """Exact: tokens of `text` under this model's tokenizer, without special tokens."""
        return len(self._encode(text))

    def truncate_middle(self, text: str, max_tokens: int) -> str:
        """Keep the first max_tokens // 2 and the last remaining token ids of `text`; drop the middle."""
        ids = self._encode(text)
        if len(ids) <= max_tokens:
            return text
        head, tail = head_and_tail(ids, max_tokens)
        return self._llama.detokenize([*head, *tail]).decode("utf-8", errors="ignore")

    def prompt_ids(self, messages: Messages) -> list[int]:
        """Token ids of the full prompt: the GGUF's chat template with a generation prompt, or plain_prompt."""
        if self._template is not None:
            text = self._template(messages=messages).prompt
            return self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return self._llama.tokenize(plain_prompt(messages).encode("utf-8"), add_bos=True, special=True)

    def generate(self, messages: Messages, *, max_new_tokens: int = 128, temperature: float = 0.0) -> str:
        """Answer the chat; over-long prompts lose the middle of their longest message first."""
        return "".join(self.stream(messages, max_new_tokens=max_new_tokens, temperature=temperature))

    def stream(
        self, messages: Messages, *, max_new_tokens: int = 128, temperature: float = 0.0
    ) -> Iterator[str]:
        """generate() piece by piece: the pieces join to its answer (no leading or trailing white space).

        Checks the messages and fits the prompt before returning; the model runs while the pieces are read.
        """
        check_messages(messages)
        if temperature < 0:
            raise ValueError(f"temperature must be at least 0, not {temperature}")
        budget = prompt_budget(self.context_window, max_new_tokens)
        fitted = fit_messages(
            messages, budget, lambda m: len(self.prompt_ids(m)), self.count_tokens, self.truncate_middle
        )
        return _stripped(self._pieces(self.prompt_ids(fitted), max_new_tokens, temperature))

    def _pieces(self, prompt_ids: list[int], max_new_tokens: int, temperature: float) -> Iterator[str]:
        """Decoded text of each new token (UTF-8 split across tokens is joined), until EOG or the budget."""
        import llama_cpp

        sampling: dict[str, Any] = {"temp": 0.0}  # greedy
        if temperature > 0:  # transformers' defaults, as LocalGenerator samples
            sampling = {"temp": temperature, "top_k": 50, "top_p": 1.0, "min_p": 0.0}
        processors = None
        if self.repetition_penalty != 1.0:
            processors = [generated_repetition_penalty(self.repetition_penalty, len(prompt_ids))]
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        vocab = llama_cpp.llama_model_get_vocab(self._llama.model)
        with self._lock:
            self._llama.reset()  # evaluate the whole prompt: no reuse of the last call's cache
            tokens = self._llama.generate(
                prompt_ids, repeat_penalty=1.0, logits_processor=processors, **sampling
            )
            try:
                for _ in range(max_new_tokens):
                    token = next(tokens)
                    if llama_cpp.llama_vocab_is_eog(vocab, token):
                        break
                    yield decoder.decode(self._llama.detokenize([token]))
            except (RuntimeError, ValueError) as exc:  # llama_decode failures, bad sampler settings
                raise GenerationError(
                    f"llama.cpp model {self.model_id!r} failed to generate ({exc.__class__.__name__}: "
                    f"{str(exc)[:300]}); lower max_new_tokens or context_window"
                ) from exc
            finally:
                tokens.close()
        yield decoder.decode(b"", final=True)

    def _chat_formatter(self) -> Any:
        """The GGUF's tokenizer.chat_template as a jinja2 formatter (transformers' extensions), or None."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        return Jinja2ChatFormatter(
            template,
            eos_token=self._token_text(self._llama.token_eos()),
            bos_token=self._token_text(self._llama.token_bos()),
        )

    def _token_text(self, token: int) -> str:
        """A special token's text ("<|im_end|>"), "" for -1 (the model has none)."""
        return self._llama.detokenize([token], special=True).decode("utf-8") if token != -1 else ""

    def _encode(self, text: str) -> list[int]:
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def _stripped(pieces: Iterator[str]) -> Iterator[str]:
    """The non-empty pieces with the text's leading white space dropped and its trailing white space held back,
    so that the pieces join to the stripped text."""
    started, pending = False, ""
    for piece in pieces:
        text = pending + piece
        if not started:
            text = text.lstrip()
        body = text.rstrip()
        pending = text[len(body) :]
        if body:
            started = True
            yield body
