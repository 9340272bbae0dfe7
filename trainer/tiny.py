"""python -m trainer.tiny --output-dir models/tiny-paddleocr-vl [--template 1.0|1.5] [--seed 0] [--overwrite]

Build a tiny PaddleOCR-VL offline: the real config and model classes with a few small layers and random weights,
a byte-level BPE tokenizer trained on synthetic document text that carries PaddleOCR-VL's special tokens, a chat
template that renders what the Hub model's does (1.0's, or with --template 1.5 that of 1.5 and 1.6), and an image
processor with a small pixel budget. It is saved in the Hub repo's layout, so every loading path (AutoProcessor,
AutoModelForImageTextToText, PEFT) is the real one.
"""

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    HfArgumentParser,
    PaddleOCRVLConfig,
    PaddleOCRVLForConditionalGeneration,
    PaddleOCRVLImageProcessorPil,
    PaddleOCRVLProcessor,
    PreTrainedTokenizerFast,
)

from trainer.cli import one_line_errors
from trainer.data.tasks import PROMPTS
from trainer.errors import InputError
from trainer.folders import HIDDEN, claim
from trainer.quiet import known_noise_silenced

# The Hub model's tokens; ids differ (the real vocabulary has ~103k entries), names and roles do not.
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|begin_of_sentence|>", "<|end_of_sentence|>"]
VISION_TOKENS = ["<|IMAGE_PLACEHOLDER|>", "<|IMAGE_START|>", "<|IMAGE_END|>", "<|video_pad|>"]
TABLE_TOKENS = ["<fcel>", "<ecel>", "<lcel>", "<ucel>", "<xcel>", "<nl>"]

# Renders, for the same messages, the text of PaddleOCR-VL's template:
# <|begin_of_sentence|>User: <|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>OCR:\nAssistant: {answer}</s>
# and of 1.5's and 1.6's, whose answer starts on a line of its own: ...OCR:\nAssistant:\n{answer}</s>
# The image markers are written out: a template variable named image_token would be shadowed by the tokenizer's.
CHAT_TEMPLATE = """{{- '<|begin_of_sentence|>' -}}
{%- for message in messages -%}
{%- if message['role'] == 'system' -%}
{%- for part in message['content'] if part['type'] == 'text' -%}{{ part['text'] + '\\n' }}{%- endfor -%}
{%- elif message['role'] == 'user' -%}
{{- 'User: ' -}}
{%- for part in message['content'] if part['type'] == 'image' -%}{{ '<|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>' }}{%- endfor -%}
{%- for part in message['content'] if part['type'] == 'text' -%}{{ part['text'] }}{%- endfor -%}
{{- '\\n' -}}
{%- elif message['role'] == 'assistant' -%}
{{- 'ASSISTANT' -}}
{%- for part in message['content'] if part['type'] == 'text' -%}{{ part['text'] }}{%- endfor -%}
{{- '</s>' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- 'ASSISTANT' -}}{%- endif -%}"""
ASSISTANT = {"1.0": "Assistant: ", "1.5": "Assistant:\n"}  # what each version's template puts before the answer


def chat_template(version: str) -> str:
    """PaddleOCR-VL `version`'s chat template (1.6 shares 1.5's)."""
    return CHAT_TEMPLATE.replace("ASSISTANT", ASSISTANT[version].replace("\n", "\\n"))  # a Jinja string's escape


@dataclass
class TinyArguments:
    output_dir: str = field(default="models/tiny-paddleocr-vl", metadata={"help": "Where to save the model repo."})
    seed: int = field(default=0, metadata={"help": "Seed of the weights and of the tokenizer's training text."})
    vocab_size: int = field(default=2048, metadata={"help": "BPE vocabulary size, special tokens included."})
    hidden_size: int = field(default=128, metadata={"help": "Width of the language model, a multiple of 64."})
    num_hidden_layers: int = field(default=2, metadata={"help": "Decoder layers of the language model."})
    corpus_documents: int = field(default=120, metadata={"help": "Synthetic documents the tokenizer is trained on."})
    max_pixels: int = field(
        default=28 * 28 * 64, metadata={"help": "Pixel budget of the image processor (64 image tokens)."}
    )
    template: Literal["1.0", "1.5"] = field(
        default="1.0",
        metadata={"help": "Whose chat template: PaddleOCR-VL 1.0's (`Assistant: ` before the answer) or 1.5's and "
                          "1.6's (`Assistant:` and a new line)."},
    )  # fmt: skip
    overwrite: bool = field(default=False, metadata={"help": "Replace a model trainer.tiny wrote into output_dir."})

    def __post_init__(self):
        # Heads of 32 dimensions, two of them sharing each key/value head: the width must hold whole pairs of heads.
        if self.hidden_size < 64 or self.hidden_size % 64 or self.num_hidden_layers < 1:
            raise InputError(
                f"--hidden_size must be a positive multiple of 64 and --num_hidden_layers at least 1, "
                f"got {self.hidden_size} and {self.num_hidden_layers}"
            )


def build_tokenizer(args: TinyArguments) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on what the model will read and write: canonical JSON, page text, OTSL, prompts.

    Fewer tokens per answer is what lets the stand-in learn the format on a CPU in minutes (about 215 per document
    against 330 with GPT-2's word-splitting rule at the same vocabulary size)."""
    # The generator only here: build_full_size (the benchmarks') runs where its Faker and fonts are not installed.
    from trainer.synth.generate import DOC_TYPES, sample_text
    from trainer.synth.locales import COUNTRIES

    corpus = [" ".join(PROMPTS.values()), "User: " + ASSISTANT[args.template]]
    for index in range(args.corpus_documents):
        corpus += sample_text(args.seed, index, tuple(DOC_TYPES), tuple(COUNTRIES))
    bpe = Tokenizer(models.BPE())
    # Digit runs stand alone; everything between them may merge, so `","unit_price":"` becomes one token.
    digits = pre_tokenizers.Split(Regex(r"\d+"), "isolated")
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [digits, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    bpe.decoder = decoders.ByteLevel()
    special = SPECIAL_TOKENS + VISION_TOKENS + TABLE_TOKENS
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<unk>",  # as the Hub model: padding is the unknown token, id 0
        cls_token="<|begin_of_sentence|>",
        sep_token="<|end_of_sentence|>",
        extra_special_tokens={"image_token": "<|IMAGE_PLACEHOLDER|>"},
    )


def build_config(tokenizer: PreTrainedTokenizerFast, args: TinyArguments) -> PaddleOCRVLConfig:
    """The real architecture, shrunk: `args`' text width and layers (128 and 2), 2 vision layers; M-RoPE sections
    sum to head_dim / 2."""
    ids = tokenizer.convert_tokens_to_ids
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden_size,
        intermediate_size=2 * args.hidden_size,
        num_hidden_layers=args.num_hidden_layers,
        num_attention_heads=args.hidden_size // 32,
        num_key_value_heads=args.hidden_size // 64,
        head_dim=32,
        max_position_embeddings=4096,
        initializer_range=0.02,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0, "mrope_section": [4, 6, 6]},
        pad_token_id=ids("<unk>"),
        bos_token_id=ids("<s>"),
        eos_token_id=ids("</s>"),
    )
    vision = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        patch_size=14,
        spatial_merge_size=2,
    )
    return PaddleOCRVLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids("<|IMAGE_PLACEHOLDER|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|IMAGE_START|>"),
        vision_end_token_id=ids("<|IMAGE_END|>"),
    )


def build(args: TinyArguments) -> Path:
    """Tokenizer, processor and randomly initialised model, saved like the Hub repo (safetensors).

    Files are saved aside and moved in when all are written, so an interrupted build leaves no half a model.
    """
    output_dir = Path(args.output_dir)
    tokenizer = build_tokenizer(args)
    image_processor = PaddleOCRVLImageProcessorPil(  # the PIL backend: torchvision is no dependency
        min_pixels=28 * 28 * 4, max_pixels=args.max_pixels, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    template = chat_template(args.template)
    processor = PaddleOCRVLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)
    torch.manual_seed(args.seed)
    model = PaddleOCRVLForConditionalGeneration(build_config(tokenizer, args))
    model.generation_config.update(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".staging-") as staging:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        for path in Path(staging).iterdir():
            path.replace(output_dir / path.name)
    return output_dir


def build_full_size(output_dir: str | Path, processor_source: str = "models/tiny-paddleocr-vl") -> Path:
    """The Hub model's architecture at full size (0.9 B parameters, its 103k vocabulary) with random bf16 weights
    and `processor_source`'s processor and token ids: what the benchmarks measure speed and memory on, since
    neither depends on the weights' values."""
    source = AutoModelForImageTextToText.from_pretrained(processor_source).config
    tokens = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    # The Hub model's output layer is its own matrix (tie_word_embeddings false: 0.9 B parameters, 0.8 B tied); the
    # text config says so too, or transformers' pre-v5 compatibility ties them again when the folder is loaded.
    untied = dict(tie_word_embeddings=False, text_config={"tie_word_embeddings": False})
    config = PaddleOCRVLConfig(**untied, **{name: getattr(source, name) for name in tokens})
    torch.manual_seed(0)
    PaddleOCRVLForConditionalGeneration(config).to(torch.bfloat16).save_pretrained(output_dir)
    AutoProcessor.from_pretrained(processor_source).save_pretrained(output_dir)
    return Path(output_dir)


def main(argv: list[str] | None = None):
    with one_line_errors(parsing=True):
        (args,) = HfArgumentParser(TinyArguments).parse_args_into_dataclasses(argv)
    again = f"nothing half-written is kept; run again with --overwrite --output-dir {args.output_dir}"
    folder = claim(args.output_dir, "trainer.tiny", overwrite=args.overwrite)
    with known_noise_silenced(), one_line_errors(interrupted=again), folder:
        output_dir = build(args)
        model = PaddleOCRVLForConditionalGeneration.from_pretrained(output_dir)
    parameters = sum(p.numel() for p in model.parameters())
    files = sorted(p.name for p in output_dir.iterdir() if p.name not in HIDDEN)
    print(f"Wrote a tiny PaddleOCR-VL ({parameters / 1e6:.2f} M parameters) to {output_dir}/: {', '.join(files)}")
    print(json.dumps({"load_with": f'AutoModelForImageTextToText.from_pretrained("{output_dir}")'}))


if __name__ == "__main__":
    main()
