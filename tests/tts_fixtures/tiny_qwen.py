"""A tiny random Qwen3-TTS 12 Hz *Base* checkpoint on disk, plus a synthetic reference voice.

The checkpoint goes through the real ``Qwen3TTSModel.from_pretrained`` →
``create_voice_clone_prompt`` → ``generate_voice_clone`` path on CPU in well under a second per
call. Its audio is noise (the decoder's codebooks are randomised so it is not exact silence):
tests check shapes, rates, timing, control flow and chunk joins, never sound.

Constraints the real loader imposes (found by reading qwen-tts 0.1.1):
- the talker vocabulary is ``codebook_size + 1024``; generate() suppresses the top 1024 ids except
  the codec EOS, so every ``codec_*`` special id must sit in that band;
- ``num_code_groups`` (talker, code predictor) == ``num_quantizers`` (codec encoder and decoder);
- the talker's ``mrope_section`` sums to ``head_dim / 2``;
- the speaker encoder's ``enc_dim`` is the talker's ``hidden_size`` (its x-vector is a codec token);
- the text tokenizer turns ``"<|im_start|>assistant\\n"`` into exactly 3 tokens (the prompt is
  sliced by position);
- ``Qwen3TTSSpeakerEncoderConfig`` takes no ``**kwargs``: the generic keys ``save_pretrained``
  writes into ``speaker_encoder_config`` must be removed again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from aischoco.tts.torchaudio_shim import ensure_torchaudio_importable

CODEBOOK = 32  # real models: 2048
QUANTIZERS = 4  # real models: 16
HIDDEN = 32
TEXT_VOCAB = 512
SAMPLE_RATE = 24_000
# ids in the talker's special band (CODEBOOK .. CODEBOOK + 1023)
_CODEC_IDS = {"codec_eos_token_id": 10, "codec_think_id": 11, "codec_nothink_id": 12,
              "codec_think_bos_id": 13, "codec_think_eos_id": 14, "codec_pad_id": 15,
              "codec_bos_id": 16}
_SPEAKER_KEYS = {"mel_dim", "enc_dim", "enc_channels", "enc_kernel_sizes", "enc_dilations",
                 "enc_attention_channels", "enc_res2net_scale", "enc_se_channels", "sample_rate"}
# an id inside the suppressed band: passing it as eos_token_id makes generation run to
# max_new_tokens (the model can never emit it), which tests use to get long sentences
NEVER_EMITTED_ID = CODEBOOK + 1000


@dataclass(frozen=True)
class Arch:
    """Sizes of a random checkpoint. TINY for tests; FULL_* copy the released 12 Hz models'
    shapes (from their published config.json files, as remembered: verify against a real one
    before quoting figures) so a benchmark on random weights costs what real weights cost."""

    codebook: int = CODEBOOK
    quantizers: int = QUANTIZERS
    talker: dict[str, Any] = field(default_factory=lambda: {
        "hidden_size": HIDDEN, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 1, "head_dim": 16, "text_hidden_size": HIDDEN, "text_vocab_size": TEXT_VOCAB,
        "rope_scaling": {"rope_type": "default", "mrope_section": [4, 2, 2], "interleaved": True}})
    predictor: dict[str, Any] = field(default_factory=lambda: {
        "hidden_size": HIDDEN, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 1, "head_dim": 16})
    decoder: dict[str, Any] = field(default_factory=lambda: {
        "codebook_dim": 16, "hidden_size": 16, "latent_dim": 16, "num_attention_heads": 2,
        "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 32, "num_hidden_layers": 1,
        "decoder_dim": 32, "sliding_window": 8})
    speaker_channels: tuple[int, ...] = (16, 16, 16, 16, 48)


TINY = Arch()
_FULL_PREDICTOR = {"hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 5,
                       "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128}
_FULL_DECODER = {"codebook_dim": 512, "hidden_size": 512, "latent_dim": 1024, "num_attention_heads": 16,
                     "num_key_value_heads": 16, "head_dim": 64, "intermediate_size": 1024,
                     "num_hidden_layers": 8, "decoder_dim": 1536, "sliding_window": 72}
_FULL_ROPE = {"rope_type": "default", "mrope_section": [24, 20, 20], "interleaved": True}


def _full(hidden: int, intermediate: int) -> Arch:
    return Arch(codebook=2048, quantizers=16, talker={
        "hidden_size": hidden, "intermediate_size": intermediate, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "text_hidden_size": 2048,
        "text_vocab_size": 151936, "rope_scaling": _FULL_ROPE}, predictor=_FULL_PREDICTOR,
        decoder=_FULL_DECODER, speaker_channels=(512, 512, 512, 512, 1536))


FULL = {"0.6B": _full(1024, 3072), "1.7B": _full(2048, 6144)}


def build_tiny_checkpoint(directory: Path, *, seed: int = 0, max_new_tokens: int = 48,
                          arch: Arch = TINY) -> Path:
    """Write the checkpoint into ``directory`` (created) and return it."""
    ensure_torchaudio_importable()
    import torch

    torch.manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    _write_speech_tokenizer(directory / "speech_tokenizer", arch)
    tokenizer = _write_text_tokenizer(directory)
    _write_model(directory, tokenizer, arch)
    generation = {"do_sample": True, "top_k": 50, "top_p": 1.0, "temperature": 0.9,
                      "repetition_penalty": 1.05, "subtalker_dosample": True, "subtalker_top_k": 50,
                      "subtalker_top_p": 1.0, "subtalker_temperature": 0.9,
                      "max_new_tokens": max_new_tokens}
    (directory / "generation_config.json").write_text(json.dumps(generation), encoding="utf-8")
    return directory


def _write_speech_tokenizer(directory: Path, arch: Arch) -> None:
    from qwen_tts.core import Qwen3TTSTokenizerV2Config, Qwen3TTSTokenizerV2Model
    from transformers import EncodecFeatureExtractor

    # default up/down-sampling ratios are kept: 1920 samples per codec frame, like the real codec
    config = Qwen3TTSTokenizerV2Config(
        encoder_config={
            "hidden_size": 32, "num_filters": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 64,
            "codebook_size": arch.codebook, "codebook_dim": 16, "num_quantizers": arch.quantizers,
            "num_semantic_quantizers": 1, "vector_quantization_hidden_dimension": 16,
            "upsample_groups": 32, "use_cache": False},  # the encoder only runs once, at start-up
        decoder_config={"codebook_size": arch.codebook, "num_quantizers": arch.quantizers,
                        **arch.decoder},
        encoder_valid_num_quantizers=arch.quantizers,
    )
    config.architectures = ["Qwen3TTSTokenizerV2Model"]
    directory.mkdir(parents=True, exist_ok=True)
    model = Qwen3TTSTokenizerV2Model(config)
    import torch

    # codebooks start at zero and std-0.02 weights shrink the signal ~1e-9: the decoder would be
    # silent, and chunk-join tests need real audio. Random codebooks + PyTorch's default init
    # (fan-in scaled) give noise at a normal level.
    with torch.no_grad():
        for name, param in model.decoder.named_parameters():
            if name.endswith("embedding_sum"):
                param.normal_(0.0, 1.0)
        for module in model.decoder.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d, torch.nn.Linear)):
                module.reset_parameters()
    model.save_pretrained(directory)
    EncodecFeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE,
                            padding_value=0.0).save_pretrained(directory)


def _write_text_tokenizer(directory: Path):  # -> Qwen2TokenizerFast
    from tokenizers import Tokenizer, decoders, models
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import Qwen2TokenizerFast
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    # byte-level BPE without merges: every UTF-8 byte is one token, so any text (Korean too) encodes
    byte_vocab = {symbol: index for index, symbol in enumerate(bytes_to_unicode().values())}
    core = Tokenizer(models.BPE(vocab=byte_vocab, merges=[]))
    core.pre_tokenizer = ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    tokenizer = Qwen2TokenizerFast(tokenizer_object=core, unk_token=None, bos_token=None,
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]})
    tokenizer.add_tokens(["assistant", "user"])  # "<|im_start|>assistant\n" → 3 tokens
    assert len(tokenizer("<|im_start|>assistant\n")["input_ids"]) == 3
    tokenizer.save_pretrained(directory)
    return tokenizer


def _write_model(directory: Path, tokenizer, arch: Arch) -> None:
    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration

    book = arch.codebook
    band = {key: book + offset for key, offset in _CODEC_IDS.items()}
    talker = dict(
        vocab_size=book + 1024, num_code_groups=arch.quantizers, max_position_embeddings=4096,
        codec_language_id={"korean": book + 20, "english": book + 21},
        spk_id={}, spk_is_dialect={},
        code_predictor_config={"vocab_size": book, "num_code_groups": arch.quantizers,
                               "max_position_embeddings": 64, **arch.predictor},
        **arch.talker, **band,
    )
    config = Qwen3TTSConfig(
        talker_config=talker,
        speaker_encoder_config={"enc_dim": arch.talker["hidden_size"],
                                "enc_channels": list(arch.speaker_channels),
                                "enc_attention_channels": 8, "enc_res2net_scale": 2,
                                "enc_se_channels": 8},
        tokenizer_type="qwen3_tts_tokenizer_12hz", tts_model_size="0b6", tts_model_type="base",
        im_start_token_id=tokenizer.convert_tokens_to_ids("<|im_start|>"),
        im_end_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        tts_pad_token_id=300, tts_bos_token_id=301, tts_eos_token_id=302,
    )
    config.architectures = ["Qwen3TTSForConditionalGeneration"]
    Qwen3TTSForConditionalGeneration(config).save_pretrained(directory)
    config_path = directory / "config.json"
    saved = json.loads(config_path.read_text(encoding="utf-8"))
    saved["speaker_encoder_config"] = {key: value for key, value
                                       in saved["speaker_encoder_config"].items()
                                       if key in _SPEAKER_KEYS}
    config_path.write_text(json.dumps(saved, indent=1), encoding="utf-8")


def write_reference_voice(directory: Path, *, seconds: float = 3.5,
                          sample_rate: int = SAMPLE_RATE,
                          text: str = "안녕하세요, 초코예요! 오늘도 같이 놀아요.") -> tuple[Path, Path]:
    """A voiced-sounding synthetic clip (harmonics with a syllable-rate envelope) framed by
    silence, and its transcript. Returns (wav path, transcript path)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    voice = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 6))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    speech = 0.25 * voice * envelope + 0.01 * rng.standard_normal(t.size)
    silence = np.zeros(int(0.3 * sample_rate))
    samples = np.concatenate([silence, speech, silence]).astype(np.float32)
    wav, transcript = directory / "ref.wav", directory / "ref_text.txt"
    sf.write(wav, samples, sample_rate, subtype="PCM_16")
    transcript.write_text(text + "\n", encoding="utf-8")
    return wav, transcript
