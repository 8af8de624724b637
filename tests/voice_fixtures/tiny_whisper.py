"""A tiny random Whisper model in CTranslate2 format that ``faster_whisper.WhisperModel`` loads
offline, so tests run faster-whisper's real path (log-mel features → CTranslate2 encode and
generate → tokenizer decode) in well under a second. Its text is noise; tests never read it.

Built the way real models are: a random ``WhisperForConditionalGeneration`` saved with its
tokenizer and feature extractor, then ``ctranslate2.converters.TransformersConverter``. What the
readers need (CTranslate2 4.8 ``whisper.cc``, faster-whisper 1.2.1 ``transcribe.py`` and
``tokenizer.py``):
- the vocabulary keeps the real layout: text tokens, ``<|endoftext|>``, ``<|startoftranscript|>``,
  the 100 language tokens in Whisper's order, ``<|translate|>``, ``<|transcribe|>``,
  ``<|startoflm|>``, ``<|startofprev|>``, ``<|nospeech|>``, ``<|notimestamps|>``, 1501 timestamps.
  CTranslate2 counts languages by position and faster-whisper takes ``timestamp_begin`` as
  ``<|notimestamps|>`` + 1;
- CTranslate2 calls a model multilingual only if its vocabulary holds an empty-string token (the
  multilingual Whisper BPE has one, the English-only one not); without it faster-whisper falls
  back to English and ignores ``language="ko"``;
- the text part is byte-level BPE (all 256 bytes, a few Korean merges): faster-whisper encodes
  arbitrary symbols to build its suppress list, and decodes whatever ids come out;
- ``tokenizer.json`` and ``preprocessor_config.json`` sit next to ``model.bin``; without them
  faster-whisper downloads ``openai/whisper-tiny``'s tokenizer (no network here);
- the special and timestamp rows of the (tied) output embedding are shrunk so greedy decoding
  emits text tokens, which faster-whisper decodes, instead of timestamps it would drop. The model
  never emits ``<|endoftext|>`` either, so each 30 s window decodes the full 224 tokens (~0.25 s
  on CPU): long enough for tests to see the event loop keep running meanwhile.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

D_MODEL = 64
LAYERS = 2
HEADS = 2
N_MELS = 80
BPE_VOCAB = 320  # 256 bytes + a few merges
SEED = 1234
_CORPUS = ["안녕하세요 여러분 오늘 방송 시작합니다", "감사합니다 좋아요 정말 재미있어요",
           "hello everyone welcome to the stream", "네 맞아요 그렇죠 아니요"] * 4
_TAIL = ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
         "<|notimestamps|>"]


def _tokenizer() -> tuple[Any, list[str]]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    vocab[""] = len(vocab)  # see the module docstring: CTranslate2's "multilingual" marker
    tok = Tokenizer.from_str(json.dumps(spec))
    languages = [f"<|{code}|>" for code in LANGUAGES]  # Whisper's order: en, zh, de, es, ru, ko…
    specials = (["<|endoftext|>", "<|startoftranscript|>", *languages, *_TAIL]
                + [f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    tok.add_special_tokens(specials)
    return tok, languages


def build_tiny_whisper(dest: Path) -> Path:
    """Write a CTranslate2 Whisper model directory under ``dest`` and return its path."""
    import ctranslate2.converters
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )

    hf_dir, ct2_dir = dest / "hf", dest / "ct2"
    tok, languages = _tokenizer()
    ids = tok.get_vocab()
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    config = WhisperConfig(
        vocab_size=tok.get_vocab_size(), num_mel_bins=N_MELS, d_model=D_MODEL,
        encoder_layers=LAYERS, decoder_layers=LAYERS, encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS, encoder_ffn_dim=2 * D_MODEL, decoder_ffn_dim=2 * D_MODEL,
        max_source_positions=1500, max_target_positions=448,  # 30 s windows, like every Whisper
        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot)
    torch.manual_seed(SEED)
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():  # see the module docstring: text tokens win the greedy decode
        model.model.decoder.embed_tokens.weight[eot:] *= 0.05
    gen = GenerationConfig.from_model_config(config)
    gen._from_model_config = False  # else from_pretrained rebuilds it, losing lang_to_id
    gen.suppress_tokens, gen.begin_suppress_tokens = [], [ids["Ġ"], eot]  # like real: " ", eot
    gen.lang_to_id = {lang: ids[lang] for lang in languages}  # → CTranslate2 "lang_ids"
    gen.task_to_id = {"translate": ids["<|translate|>"], "transcribe": ids["<|transcribe|>"]}
    gen.no_timestamps_token_id = ids["<|notimestamps|>"]
    gen.is_multilingual = True
    model.generation_config = gen
    model.save_pretrained(hf_dir)
    WhisperTokenizerFast(tokenizer_object=tok).save_pretrained(hf_dir)
    WhisperFeatureExtractor(feature_size=N_MELS).save_pretrained(hf_dir)

    converter = ctranslate2.converters.TransformersConverter(
        str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"])
    converter.convert(str(ct2_dir), force=True)
    lang_ids = json.loads((ct2_dir / "config.json").read_text(encoding="utf-8"))["lang_ids"]
    probe = ctranslate2.models.Whisper(str(ct2_dir))  # what faster-whisper will see
    if (len(lang_ids) != len(languages) or not probe.is_multilingual
            or probe.num_languages != len(languages)):
        raise RuntimeError("tiny Whisper: CTranslate2 does not see a multilingual model "
                           f"({len(lang_ids)=}, {probe.is_multilingual=}, {probe.num_languages=})")
    return ct2_dir
