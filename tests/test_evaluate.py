"""`trainer.evaluate` and `trainer.compare` end to end on the tiny model: batching, files, bad input, the bootstrap."""

import io
import json
import random
import shutil

import numpy as np
import pytest
import scipy.stats
import torch
from datasets import Dataset, load_dataset
from datasets import Image as ImageFeature
from PIL import Image
from transformers import AutoModelForImageTextToText, BitsAndBytesConfig

from trainer import compare, evaluate
from trainer.data.document_dataset import data_files, write_chunk
from trainer.data.pages import read_file_pages, read_page
from trainer.errors import InputError
from trainer.eval.fields import repeats_itself
from trainer.eval.report import what_it_cost, worse
from trainer.eval.run import ReadingArguments, evaluate_split, load_split
from trainer.eval.scores import COUNTS, aggregate, paired_bootstrap, rates, score_document
from trainer.inference import LoopGuard, generate, generate_scored, load_for_inference, loop_start, prompt_inputs
from trainer.schema.document import get_path, scalar_paths

FAST = ["--max-new-tokens", "24", "--max-pixels", "50176"]
METRICS_KEYS = {
    "n", "field_accuracy", "field_precision", "field_recall", "field_f1", "numeric_accuracy", "teds", "teds_struct",
    "validation_pass_rate", "json_valid_rate", "per_field", "seconds_per_document", "anls", "json_found_rate",
    "per_field_anls", "loop_rate", "ocr_cer", "ocr_ned", "ocr_cer_unordered",
}  # fmt: skip


@pytest.fixture(scope="module")
def test_rows(synthetic_dir):
    return load_split(str(synthetic_dir), "test", None)


def test_a_batch_gives_what_each_document_gives_alone(tiny_model_dir, test_rows):
    model, processor = load_for_inference(str(tiny_model_dir))
    pages = [read_page(row["image"], 50176) for row in test_rows.select(range(5))]
    assert len({page.size for page in pages}) > 1  # different sizes: different image-token counts, real padding
    batched = generate(model, processor, pages, "extract", max_new_tokens=32)
    alone = [generate(model, processor, [page], "extract", max_new_tokens=32)[0] for page in pages]
    assert batched == alone and all(batched)


def test_a_loop_is_stopped_where_it_is_caught_and_what_came_before_is_kept(tiny_model_dir, test_rows):
    """The random stand-in loops on every page, unguarded to the end of its token budget (where it may have broken
    out of the loop again: `: : : … .com`): guarded, each answer is the unguarded one's beginning, a loop by the
    metrics' measure, and far shorter than the budget; an answer that ends is the same either way."""
    model, processor = load_for_inference(str(tiny_model_dir))
    pages = [read_page(row["image"], 3136) for row in test_rows.select(range(4))]
    inputs = prompt_inputs(processor, pages)
    unguarded = model.generate(**inputs, max_new_tokens=256, do_sample=False)[:, inputs["input_ids"].shape[1] :]
    for (answer, logprob), row in zip(
        generate_scored(model, processor, pages, max_new_tokens=256), unguarded, strict=True
    ):
        whole = processor.decode(row, skip_special_tokens=False)
        assert len(row) == 256 and processor.tokenizer.eos_token_id not in row.tolist()  # it never ended
        assert repeats_itself(answer) and whole.startswith(answer)
        assert len(processor.tokenizer(answer)["input_ids"]) < 128 and logprob < 0


def test_the_guard_stops_a_unit_of_a_few_tokens_said_over_and_over_and_never_a_line_item_said_again():
    item = torch.arange(100, 113)  # a 13-token line item, as the stand-in writes `{"description":"Espresso",…},`
    rows = {
        "short loop": torch.cat([torch.arange(30), torch.tensor([7, 8, 9]).repeat(16)]),  # 48 tokens of a 3-token unit
        "one token": torch.cat([torch.arange(40), torch.full((48,), 5)]),
        "items": torch.cat([torch.arange(10), item.repeat(6)]),  # 6 identical line items, as receipts print them
        "five tokens": torch.cat([torch.arange(10), torch.arange(50, 55).repeat(12)]),
        "short": torch.full((47,), 5),  # under 48 tokens: not yet
    }
    width = max(len(row) for row in rows.values())
    batch = torch.stack([torch.cat([torch.full((width - len(row),), 0), row]) for row in rows.values()])
    prompt = torch.full((len(rows), 3), 1)
    guard = LoopGuard(prompt_length=3, rows=len(rows))
    stopped = guard(torch.cat([prompt, batch], 1), scores=None)
    assert [name for name, stop in zip(rows, stopped.tolist(), strict=True) if stop] == ["short loop", "one token"]
    assert guard.stopped == [width, width, None, None, None]


def test_the_loop_rule_on_a_finished_row_stops_where_the_guard_stops_it_token_by_token():
    """vLLM's rows are cut after generation (`loop_start`): at the very token where `LoopGuard`, called after each
    token as generate calls it, would have stopped them."""
    rng = random.Random(0)
    for _ in range(200):
        row = [rng.randrange(6) for _ in range(rng.randrange(0, 40))]  # few distinct tokens: near-loops abound
        unit = [rng.randrange(6) for _ in range(rng.randint(1, 6))]
        row += unit * rng.randint(0, 60 // len(unit)) + [rng.randrange(6) for _ in range(rng.randrange(0, 20))]
        guard = LoopGuard(prompt_length=0, rows=1)
        for length in range(1, len(row) + 1):
            guard(torch.tensor([row[:length]]), scores=None)
            if guard.stopped[0] is not None:
                break
        assert loop_start(row) == guard.stopped[0], row


def test_a_merged_or_8bit_model_reads_like_the_model_it_came_from(
    tiny_model_dir, random_adapter_dir, test_rows, tmp_path
):
    pages = [read_page(row["image"], 50176) for row in test_rows.select(range(3))]
    with_adapter, processor = load_for_inference(str(tiny_model_dir), str(random_adapter_dir))
    with_adapter.merge_and_unload().save_pretrained(tmp_path / "merged")
    processor.save_pretrained(tmp_path / "merged")
    merged, _ = load_for_inference(str(tmp_path / "merged"))
    assert generate(merged, processor, pages, max_new_tokens=24) == generate(
        load_for_inference(str(tiny_model_dir), str(random_adapter_dir))[0], processor, pages, max_new_tokens=24
    )
    quantised = AutoModelForImageTextToText.from_pretrained(  # LLM.int8 through bitsandbytes' CPU kernels
        tiny_model_dir, quantization_config=BitsAndBytesConfig(load_in_8bit=True), device_map="cpu"
    )
    quantised.save_pretrained(tmp_path / "int8")
    processor.save_pretrained(tmp_path / "int8")
    loaded, _ = load_for_inference(str(tmp_path / "int8"))
    assert loaded.model.language_model.layers[0].self_attn.q_proj.weight.dtype == torch.int8
    # LLM.int8 rounds: on the tiny model's random weights (nearly tied logits) greedy answers can part after a few
    # tokens, so the next-token logits are compared. Measured: max difference 0.117 on logits up to 4.2 (2.8 %).
    base, _ = load_for_inference(str(tiny_model_dir))
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "OCR:"}]}], add_generation_prompt=True
    )
    inputs = processor(images=pages, text=[prompt] * len(pages), padding=True, padding_side="left", return_tensors="pt")
    with torch.no_grad():
        exact, rounded = base(**inputs).logits[:, -1], loaded(**inputs).logits[:, -1]
    assert (rounded - exact).abs().max() <= 0.05 * exact.abs().max()
    assert torch.equal(rounded.argmax(-1), exact.argmax(-1))  # the same first token for every page


def test_evaluate_writes_every_file(tiny_model_dir, synthetic_dir, tmp_path):
    evaluate.main(["--model", str(tiny_model_dir), "--dataset", str(synthetic_dir), "--limit", "6", "--batch-size", "4",
                   "--output-dir", str(tmp_path), *FAST])  # fmt: skip
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics.keys() >= METRICS_KEYS and metrics["n"] == 6 and metrics["errors"] == 0
    assert metrics["seconds_per_document"] > 0 and 0 <= metrics["teds_struct"] <= 1
    lines = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and {"id", "output", "parsed", "verdicts", "table_output", "ocr_output"} <= lines[0].keys()
    assert "total" in lines[0]["verdicts"] and all(isinstance(line["ocr_output"], str) for line in lines)
    assert metrics["ocr_cer"] >= 0 and 0 <= metrics["ocr_ned"] <= 1  # every generated page has its text
    report = (tmp_path / "report.md").read_text()
    assert "| Field accuracy |" in report and "per_field.png" in report
    with Image.open(tmp_path / "per_field.png") as chart:
        assert chart.width > 300


def perfect_predictions(rows, path, broken: int | None = None):
    """What a perfect reader would answer (the labels themselves); one answer optionally replaced by garbage."""
    with open(path, "w") as f:
        for index, row in enumerate(rows):
            output = '{"total": ' if index == broken else row["ground_truth"]
            record = {"id": row["id"], "output": output, "table_output": row["table_otsl"], "ocr_output": row["text"]}
            f.write(json.dumps(record) + "\n")


def test_perfect_answers_score_one_and_a_broken_one_costs_only_itself(synthetic_dir, tmp_path):
    rows = load_dataset(str(synthetic_dir), split="test").select(range(8))
    perfect_predictions(rows, tmp_path / "perfect.jsonl")
    argv = ["--predictions", str(tmp_path / "perfect.jsonl"), "--dataset", str(synthetic_dir), "--limit", "8"]
    evaluate.main([*argv, "--output-dir", str(tmp_path / "perfect")])
    metrics = json.loads((tmp_path / "perfect" / "metrics.json").read_text())
    for key in ("field_accuracy", "field_f1", "numeric_accuracy", "teds", "teds_struct", "validation_pass_rate"):
        assert metrics[key] == pytest.approx(1.0), key
    assert metrics["ocr_cer"] == metrics["ocr_ned"] == metrics["ocr_cer_unordered"] == 0.0
    perfect_predictions(rows, tmp_path / "broken.jsonl", broken=3)
    argv[1] = str(tmp_path / "broken.jsonl")
    evaluate.main([*argv, "--output-dir", str(tmp_path / "broken")])
    broken = json.loads((tmp_path / "broken" / "metrics.json").read_text())
    assert broken["n"] == 8 and broken["json_valid_rate"] == 7 / 8 and broken["teds"] == pytest.approx(1.0)
    assert 0.7 < broken["field_accuracy"] < 1


@pytest.fixture
def dataset_with_a_corrupt_page(synthetic_dir, tmp_path):
    rows = (
        load_dataset(str(synthetic_dir), split="test").cast_column("image", ImageFeature(decode=False)).select(range(4))
    )
    speck = io.BytesIO()
    Image.new("RGB", (12, 9), "white").save(speck, format="PNG")  # decodes, but is too small for one patch block
    replaced = {1: b"not an image", 2: speck.getvalue()}
    images = [{"bytes": replaced.get(i, row["image"]["bytes"]), "path": None} for i, row in enumerate(rows)]
    folder = tmp_path / "corrupt"
    (folder / "data").mkdir(parents=True)
    rows.remove_columns("image").add_column("image", images).to_parquet(folder / "data" / "test-00000.parquet")
    return folder, rows[1]["id"], rows[2]["id"]


def test_unreadable_pages_score_zero_and_the_others_are_kept(tiny_model_dir, dataset_with_a_corrupt_page, tmp_path):
    folder, corrupt, speck = dataset_with_a_corrupt_page
    evaluate.main(["--model", str(tiny_model_dir), "--dataset", str(folder), "--output-dir", str(tmp_path), *FAST])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    lines = {line["id"]: line for line in map(json.loads, (tmp_path / "predictions.jsonl").read_text().splitlines())}
    assert metrics["n"] == 4 and metrics["errors"] == 2
    assert lines[corrupt]["error"].startswith("unreadable page") and lines[corrupt]["field_accuracy"] == 0
    assert "too small" in lines[speck]["error"] and lines[speck]["field_accuracy"] == 0
    assert all(line["output"] for doc_id, line in lines.items() if doc_id not in (corrupt, speck))


def test_a_model_that_says_nothing_scores_zero(tiny_model_dir, synthetic_dir, tmp_path):
    mute = tmp_path / "mute"
    shutil.copytree(tiny_model_dir, mute)
    config = json.loads((mute / "generation_config.json").read_text())
    config["eos_token_id"] = list(range(json.loads((mute / "config.json").read_text())["text_config"]["vocab_size"]))
    (mute / "generation_config.json").write_text(json.dumps(config))  # every token ends the answer
    evaluate.main(["--model", str(mute), "--dataset", str(synthetic_dir), "--limit", "3", "--output-dir", str(tmp_path / "out"), *FAST])  # fmt: skip
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    lines = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert [line["output"] for line in lines] == ["", "", ""] and metrics["n"] == 3
    assert metrics["field_accuracy"] == metrics["json_valid_rate"] == metrics["teds"] == 0


def test_resume_continues_where_the_run_stopped(tiny_model_dir, synthetic_dir, tmp_path):
    argv = ["--model", str(tiny_model_dir), "--dataset", str(synthetic_dir), "--limit", "5", "--batch-size", "2", *FAST]
    evaluate.main([*argv, "--output-dir", str(tmp_path / "whole")])
    whole = (tmp_path / "whole" / "predictions.jsonl").read_text().splitlines()
    (tmp_path / "cut").mkdir()
    kept = [json.loads(line) for line in whole[:2]]
    for line in kept:
        line["output"] = "kept from the first run"  # proves these two were not generated again
    (tmp_path / "cut" / "predictions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in kept))
    shutil.copy(tmp_path / "whole" / "settings.json", tmp_path / "cut")
    evaluate.main([*argv, "--output-dir", str(tmp_path / "cut"), "--resume"])
    resumed = [json.loads(line) for line in (tmp_path / "cut" / "predictions.jsonl").read_text().splitlines()]
    assert [line["output"] for line in resumed[:2]] == ["kept from the first run"] * 2
    assert [line["output"] for line in resumed[2:]] == [json.loads(line)["output"] for line in whole[2:]]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["--max-new-tokens", "25"], "max_new_tokens 24 → 25"),
        (["--no-tables"], "tables True → False"),
        (["--adapter", "{adapter}"], "adapter None"),
    ],
)
@pytest.mark.slow
def test_resume_refuses_predictions_made_with_other_settings(
    change, named, tiny_model_dir, random_adapter_dir, synthetic_dir, tmp_path, capsys
):
    argv = [
        "--model",
        str(tiny_model_dir),
        "--dataset",
        str(synthetic_dir),
        "--limit",
        "2",
        *FAST,
        "--output-dir",
        str(tmp_path),
    ]
    evaluate.main(argv)
    before = (tmp_path / "predictions.jsonl").read_text()
    capsys.readouterr()  # the first run's progress
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([*argv, "--resume", *(arg.format(adapter=random_adapter_dir) for arg in change)])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "other settings" in err and named in err and len(err.splitlines()) == 1, err
    assert (tmp_path / "predictions.jsonl").read_text() == before  # nothing of the first run is lost


@pytest.fixture
def empty_split(synthetic_dir, tmp_path):
    folder = tmp_path / "empty"
    (folder / "data").mkdir(parents=True)
    load_dataset(str(synthetic_dir), split="test").select([]).to_parquet(folder / "data" / "test-00000.parquet")
    return folder


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "{data}"], "either a model"),
        (["--dataset", "{data}", "--model", "{model}", "--predictions", "{bad}"], "either a model"),
        (["--dataset", "{data}", "--predictions", "{bad}"], "lacks the columns id and output"),
        (["--dataset", "{data}", "--predictions", "{missing}"], "is not a file"),
        (["--dataset", "{columnless}", "--model", "{model}"], "lacks the columns"),
        (["--dataset", "{empty}", "--model", "{model}"], "is empty"),
        (["--dataset", "{data}", "--model", "/nonexistent/model"], "not found"),
        (["--dataset", "{data}", "--model", "{model}", "--adapter", "{data}"], "not a PEFT adapter"),
        (["--dataset", "{data}", "--model", "{model}", "--limit", "0"], "--limit"),
        # the test environment has no vLLM, as a training environment has not: it says where vLLM lives
        (["--dataset", "{data}", "--model", "{model}", "--engine", "vllm"], "make serve-setup"),
        (["--dataset", "{data}", "--model", "{model}", "--tensor-parallel-size", "0"], "--tensor-parallel-size"),
    ],
)
def test_bad_input_ends_in_one_line(argv, message, tiny_model_dir, synthetic_dir, empty_split, tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "prediction": "{}"}\n')
    (tmp_path / "columnless" / "data").mkdir(parents=True)
    Dataset.from_dict({"id": ["a"], "text": ["x"]}).to_parquet(tmp_path / "columnless" / "data" / "test-0.parquet")
    paths = {"data": synthetic_dir, "model": tiny_model_dir, "bad": tmp_path / "bad.jsonl", "missing": tmp_path / "no.jsonl",
             "columnless": tmp_path / "columnless", "empty": empty_split}  # fmt: skip
    argv = [arg.format(**paths) for arg in argv]
    capsys.readouterr()  # what setting up wrote
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([*argv, "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and message in err and len(err.splitlines()) == 1, err


def scores_for(seed: int, n: int = 40) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {"counts": {"documents": 1, "fields_total": 20, "fields_correct": int(c), "fields_predicted": int(p),
                    "fields_matched": int(c), "fields_printed": 20, "anls_sum": float(c), "json_found": 1,
                    "numeric_total": 8, "numeric_correct": int(c) // 3, "valid": int(v), "json_valid": 1,
                    "tables": 1, "teds_sum": t, "teds_struct_sum": min(1.0, t + 0.1), "looped": int(v < 1 and c < 5),
                    "ocr_pages": 1, "ocr_edits": int(e), "ocr_chars": 200, "ocr_ned_sum": e / 200,
                    "ocr_unordered_edits": int(e) // 2}}
        for c, p, v, t, e in zip(rng.integers(0, 21, n), rng.integers(15, 25, n), rng.integers(0, 2, n), rng.random(n),
                                 rng.integers(0, 120, n), strict=True)
    ]  # fmt: skip


def test_paired_bootstrap_agrees_with_scipy():
    base, tuned = scores_for(1), scores_for(2)
    ours = paired_bootstrap(base, tuned, resamples=4000, seed=0)
    as_array = {side: np.array([[s["counts"][k] for k in COUNTS] for s in scores]) for side, scores in (("b", base), ("t", tuned))}  # fmt: skip
    for key in ("field_accuracy", "field_f1", "teds", "validation_pass_rate", "ocr_cer"):

        def difference(b, t, axis=-1, key=key):  # scipy hands (count, resample, document) arrays
            def metric(x):
                return rates(dict(zip(COUNTS, x.sum(axis=axis), strict=True)))[key]

            return metric(t) - metric(b)

        reference = scipy.stats.bootstrap(
            (as_array["b"], as_array["t"]), difference, paired=True, vectorized=True, axis=0, n_resamples=4000,
            method="percentile", random_state=np.random.default_rng(1),
        ).confidence_interval  # fmt: skip
        point = (
            rates({k: as_array["t"][:, i].sum() for i, k in enumerate(COUNTS)})[key]
            - rates({k: as_array["b"][:, i].sum() for i, k in enumerate(COUNTS)})[key]
        )
        width = reference.high - reference.low
        assert ours[key]["value"] == pytest.approx(point)
        assert ours[key]["ci_low"] == pytest.approx(reference.low, abs=0.06 * width), key
        assert ours[key]["ci_high"] == pytest.approx(reference.high, abs=0.06 * width), key


def test_identical_models_differ_by_nothing():
    same = paired_bootstrap(scores_for(3), scores_for(3), resamples=500, seed=0)
    assert all(d["value"] == d["ci_low"] == d["ci_high"] == 0 and not d["significant"] for d in same.values())


def test_compare_on_a_dataset(tiny_model_dir, random_adapter_dir, synthetic_dir, tmp_path):
    output = tmp_path / "results.json"
    compare.main(["--base", str(tiny_model_dir), "--finetuned", str(random_adapter_dir), "--dataset", str(synthetic_dir),
                  "--limit", "4", "--output", str(output), "--resamples", "200", *FAST])  # fmt: skip
    results = json.loads(output.read_text())
    assert results["n"] == 4 and results["finetuned"]["adapter"] == str(random_adapter_dir)
    base = {json.loads(line)["id"]: json.loads(line)["output"] for line in (tmp_path / "results" / "base" / "predictions.jsonl").read_text().splitlines()}  # fmt: skip
    tuned = {json.loads(line)["id"]: json.loads(line)["output"] for line in (tmp_path / "results" / "finetuned" / "predictions.jsonl").read_text().splitlines()}  # fmt: skip
    assert base.keys() == tuned.keys() and base != tuned  # the adapter changes what is read
    for key, d in results["difference"].items():
        assert d["ci_low"] <= d["value"] <= d["ci_high"], key
        assert d["value"] == pytest.approx(results["finetuned"]["metrics"][key] - results["base"]["metrics"][key])
    with Image.open(results["chart"]) as chart:
        assert chart.width > 500
    report = (tmp_path / "results.md").read_text()
    assert "| Field accuracy |" in report and "| OCR character error rate (lower is better) |" in report
    assert {"field_accuracy", "ocr_cer", "ocr_ned", "ocr_cer_unordered"} <= results["difference"].keys()
    first = report.split("## ")[1]  # the report's first section: what fine-tuning cost
    assert first.startswith("What fine-tuning cost")
    for task in worse(results):  # every task the random adapter made worse is named there
        assert f"**{task['task']} got worse**" in first
    if not worse(results):
        assert "Nothing measured got worse" in first


def test_what_fine_tuning_cost_names_each_task_made_worse_in_its_own_direction():
    def d(value: float, low: float, high: float) -> dict:
        return {"value": value, "ci_low": low, "ci_high": high, "significant": low > 0 or high < 0}

    # extraction better, OCR worse (its error rate up, significantly), tables worse within the noise
    results = {"difference": {"field_accuracy": d(0.2, 0.1, 0.3), "ocr_cer": d(0.05, 0.02, 0.08),
                              "teds": d(-0.01, -0.03, 0.01)}}  # fmt: skip
    assert [task["task"] for task in worse(results)] == ["table recognition (OTSL)", "OCR (page text)"]
    lines = what_it_cost(results)
    assert lines[0].startswith("- **table recognition (OTSL) got worse**") and "within the interval's noise" in lines[0]
    assert lines[1].startswith("- **OCR (page text) got worse**: OCR character error rate") and "+5.0 pt ✱" in lines[1]
    held = what_it_cost({"difference": {"field_accuracy": d(0.2, 0.1, 0.3), "ocr_cer": d(-0.1, -0.2, -0.05)}})
    assert held[0].startswith("Nothing measured got worse: extraction (JSON), OCR (page text)")
    assert held[1] == "Not scored here: table recognition (OTSL) (no true tables or page text, or turned off)."


def test_compare_on_one_image(tiny_model_dir, random_adapter_dir, test_rows, tmp_path):
    read_page(test_rows[0]["image"], 10**7).save(tmp_path / "page.png")
    output = tmp_path / "one.json"
    compare.main(["--base", str(tiny_model_dir), "--finetuned", str(random_adapter_dir), "--image", str(tmp_path / "page.png"),
                  "--output", str(output), *FAST])  # fmt: skip
    results = json.loads(output.read_text())
    for side in ("base", "finetuned"):
        assert isinstance(results[side]["output"], str)  # a random model may say nothing at all
        assert not results[side]["json_valid"] and results[side]["violations"]
    assert results["base"]["output"] != results["finetuned"]["output"]
    assert results["differing_fields"] == []  # neither reading is JSON: no field to set side by side


@pytest.mark.slow
def test_compare_on_one_image_lists_the_fields_fine_tuning_changed(tiny_model_dir, synthetic_dir, tmp_path):
    """A model trained until it reads one page exactly, against its base, which reads no JSON: every field differs."""
    from shared import sft_argv
    from trl import TrlParser

    from trainer.sft import ModelConfig, ScriptArguments, SFTConfig, make_trainer

    overfit = ["--task_mix", "extract=1", "--max_train_samples", "1", "--max_steps", "240", "--per_device_train_batch_size", "1",
               "--learning_rate", "6e-3", "--lr_scheduler_type", "constant", "--warmup_steps", "0", "--use_peft", "false",
               "--eval_strategy", "no", "--save_strategy", "no", "--max_pixels", "3136", "--min_pixels", "784"]  # fmt: skip
    argv = sft_argv(tiny_model_dir, synthetic_dir, tmp_path / "run", *overfit)
    trainer = make_trainer(*TrlParser((ScriptArguments, SFTConfig, ModelConfig)).parse_args_and_config(argv))
    trainer.train()
    trainer.save_model(tmp_path / "tuned")  # the model and the processor it trained with
    row = load_split(str(synthetic_dir), "train", 1)[0]
    (tmp_path / "page.jpg").write_bytes(row["image"]["bytes"])
    output = tmp_path / "one.json"
    compare.main(["--base", str(tiny_model_dir), "--finetuned", str(tmp_path / "tuned"), "--image", str(tmp_path / "page.jpg"),
                  "--output", str(output), "--max-pixels", "3136", "--max-new-tokens", "800"])  # fmt: skip
    results, truth = json.loads(output.read_text()), json.loads(row["ground_truth"])
    assert results["finetuned"]["parsed"] == truth and results["base"]["parsed"] is None
    printed = {path for path in scalar_paths(truth) if get_path(truth, path) is not None}
    differing = {d["field"]: d for d in results["differing_fields"]}
    assert printed <= differing.keys() <= set(scalar_paths(truth))
    assert all(d["base"] is None and d["finetuned"] == get_path(truth, path) for path, d in differing.items())


def test_score_document_keys_match_metrics():
    truth = {"doc_type": "receipt", "total": "1.00"}
    score = score_document(json.dumps(truth), truth, "<fcel>a<nl>", "<table><tr><td>a</td></tr></table>")
    assert score["teds"] == score["teds_struct"] == 1.0
    assert METRICS_KEYS - {"seconds_per_document"} <= score.keys() <= METRICS_KEYS | {"verdicts", "counts"}
    assert aggregate([score])["teds"] == 1.0 and score_document("{}", truth)["teds"] is None


def test_differing_fields_compare_values_as_the_metrics_do():
    base = {"total": "1,234.50", "vendor": {"name": "ACME  GmbH"}, "line_items": [{"amount": "3.00"}]}
    tuned = {"total": "1234.5", "vendor": {"name": "Acme GmbH", "tax_id": "DE1"}, "line_items": [{"amount": "3.10"}]}
    assert compare.differing_fields(base, tuned) == [
        {"field": "line_items.0.amount", "base": "3.00", "finetuned": "3.10"},
        {"field": "vendor.tax_id", "base": None, "finetuned": "DE1"},
    ]


def test_library_functions_raise_what_a_caller_can_handle(tiny_model_dir, synthetic_dir, test_rows, tmp_path):
    """The Space, a notebook or another stage imports these: a missing model is an exception, never an exit."""
    reading = ReadingArguments(dataset=str(synthetic_dir), limit=2, max_new_tokens=4, max_pixels=50176)
    missing = {"base": (str(tiny_model_dir), None), "finetuned": ("/nonexistent/model", None)}
    with pytest.raises(InputError, match="not found"):
        evaluate_split(reading, tmp_path / "one", model="/nonexistent/model")
    with pytest.raises(InputError, match="not found"):
        compare.compare_dataset(reading, missing, tmp_path / "results.json")
    read_page(test_rows[0]["image"], 50176).save(tmp_path / "page.png")
    with pytest.raises(InputError, match="not found"):
        compare.compare_image(str(tmp_path / "page.png"), missing, reading)
    with pytest.raises(InputError, match="not a PEFT adapter"):
        compare.compare_image(str(tmp_path / "page.png"), {"base": (str(tiny_model_dir), str(tmp_path))}, reading)


def test_the_fields_asked_for_are_the_fields_scored(synthetic_dir, tmp_path):
    rows = load_split(str(synthetic_dir), "test", 4)
    answers = [{"doc_type": doc["doc_type"], "total": doc["total"]} for doc in map(json.loads, rows["ground_truth"])]
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(
        "".join(json.dumps({"id": i, "output": json.dumps(a)}) + "\n" for i, a in zip(rows["id"], answers, strict=True))
    )
    scored = {}
    for fields in ("doc_type,total", "all"):
        out = tmp_path / fields.replace(",", "_")
        evaluate.main(["--predictions", str(predictions), "--dataset", str(synthetic_dir), "--limit", "4", "--fields", fields, "--output-dir", str(out)])  # fmt: skip
        scored[fields] = json.loads((out / "metrics.json").read_text())
    assert scored["doc_type,total"]["field_accuracy"] == 1 and scored["doc_type,total"]["field_precision"] == 1
    assert scored["all"]["field_accuracy"] < 0.3, "asked for everything, two fields are a small part"


def test_a_two_page_document_is_read_whole_by_evaluate_and_compare(tiny_model_dir, synthetic_dir, tmp_path):
    rows = Dataset.from_parquet([str(f) for f in data_files(synthetic_dir, "test")]).select(range(3)).to_list()
    rows[0]["more_pages"] = [rows[1]["image"]]
    write_chunk(tmp_path / "two", 0, 1, rows)
    evaluate.main(["--model", str(tiny_model_dir), "--dataset", str(tmp_path / "two"), "--output-dir", str(tmp_path / "out"), *FAST])  # fmt: skip
    lines = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and not any("error" in line for line in lines)
    pages = [Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB") for row in rows[:2]]
    pages[0].save(tmp_path / "bill.pdf", save_all=True, append_images=pages[1:], resolution=150.0)
    compare.main(["--base", str(tiny_model_dir), "--finetuned", str(tiny_model_dir), "--image", str(tmp_path / "bill.pdf"),
                  "--output", str(tmp_path / "compare.json"), *FAST])  # fmt: skip
    results = json.loads((tmp_path / "compare.json").read_text())
    assert results["base"]["output"] == results["finetuned"]["output"] and results["differing_fields"] == []
    assert len(read_file_pages(tmp_path / "bill.pdf", 50176)) == 2
