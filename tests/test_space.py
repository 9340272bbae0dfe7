"""The Space: space/app.py launched for real on a loopback port with the tiny model and a LoRA adapter, driven by
gradio_client and by headless Chromium (Playwright); and trainer.space's pieces against the evaluation's own."""

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from trainer.errors import InputError
from trainer.schema.document import rule_verdicts
from trainer.space import reader as space

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from make_corpus import one_page_pdf, pdf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app(tiny_model_dir, adapter_dir, tmp_path_factory):
    """The app as `make space` runs it, on a free port; its settings and URL."""
    folder = tmp_path_factory.mktemp("space")
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
        "FINSCRIBE_BASE_MODEL": str(tiny_model_dir), "FINSCRIBE_ADAPTER": str(adapter_dir),
        "FINSCRIBE_MAX_PIXELS": "3136", "FINSCRIBE_MAX_NEW_TOKENS": "96", "FINSCRIBE_MAX_UPLOAD_MB": "2",
        "FINSCRIBE_EXAMPLES": str(folder / "examples"), "FINSCRIBE_MINING_DIR": str(folder / "flagged"),
        "GRADIO_SERVER_PORT": str(port := free_port()), "FINSCRIBE_CONCURRENCY": "2", "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    with open(folder / "app.log", "w") as log:
        server = subprocess.Popen([sys.executable, str(ROOT / "space" / "app.py")], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        while "Running on" not in (folder / "app.log").read_text():
            assert server.poll() is None and time.monotonic() < deadline, (folder / "app.log").read_text()[-3000:]
            time.sleep(0.5)
        yield {"url": f"http://127.0.0.1:{port}/", "env": env, "folder": folder}
        server.terminate()
        server.wait(30)


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app["url"], verbose=False)


def example(app, name="invoice_de_DE"):
    folder = Path(app["env"]["FINSCRIBE_EXAMPLES"])
    return folder / f"{name}.jpg", (folder / f"{name}.json").read_text()


def compare(client, page, truth="", fields="", page_number=None, tokens=96):
    from gradio_client import handle_file

    return client.predict(handle_file(str(page)), page_number, fields, truth, tokens, api_name="/compare")


@pytest.mark.slow
def test_an_example_compares_end_to_end(app, client, tiny_model_dir, adapter_dir):
    """Both readings, their verdicts and the field table come back; the base column is the model with the adapter
    off and the fine-tuned one with it on: each equals what the evaluation's own loading and generation read."""
    from trainer.data.pages import read_page
    from trainer.inference import generate, load_for_inference

    page, truth = example(app)
    result = compare(client, page, truth)
    assert set(result["models"]) == {"base", "finetuned"}
    pages = [read_page(str(page), 3136)]
    for name, adapter in (("base", None), ("finetuned", str(adapter_dir))):
        model, processor = load_for_inference(str(tiny_model_dir), adapter)
        reading = result["models"][name]
        assert reading["text"] == generate(model, processor, [pages], max_new_tokens=96)[0]
        assert reading["ended"] in ("eos", "loop", "budget") and reading["tokens"] <= 96 and reading["seconds"] > 0
        assert reading["json"] in ("valid", "inside other text", "none")
        assert 0 <= reading["field_accuracy"] <= 1 and reading["teds"] is not None  # the invoice has line items
    assert result["models"]["base"]["text"] != result["models"]["finetuned"]["text"]
    assert {"total", "vendor.name", "line_items.0.amount"} <= {row["field"] for row in result["fields"]}
    for row in result["fields"]:
        assert set(row) >= {"field", "base", "finetuned", "same", "truth", "base_right", "finetuned_right"}
    assert result["prompt"] == "Information Extraction (JSON):"


def test_a_field_subset_returns_only_those_fields(app, client):
    page, truth = example(app, "receipt_en_US")
    result = compare(client, page, truth, fields="total, merchant.name")
    assert result["prompt"] == "Information Extraction (JSON): total, merchant.name"
    assert {row["field"] for row in result["fields"]} <= {"total", "merchant.name"}
    assert {"total", "merchant.name"} <= {row["field"] for row in result["fields"]}  # the truth holds both


def test_flagging_keeps_a_correction_sent_after_the_page_was_flagged(app, client):
    from datasets import load_dataset

    page, truth = example(app, "receipt_de_CH")
    result = compare(client, page)
    correction = json.loads(truth)
    assert client.predict("", api_name="/flag").startswith("Flagged")  # flagged first without a correction
    assert client.predict(json.dumps(correction), api_name="/flag").startswith("Flagged")  # the correction is kept
    assert client.predict("", api_name="/flag") == "Already flagged."  # nothing new: no record
    assert client.predict(json.dumps(correction), api_name="/flag") == "Already flagged."
    log = load_dataset(str(app["folder"] / "flagged"), "needs_label", split="train")
    assert len(log) == 2 and sorted(bool(r["ground_truth"]) for r in log) == [False, True]
    record = next(r for r in log if r["ground_truth"])
    assert record["reading"] == result["models"]["finetuned"]["text"]
    assert record["baseline_reading"] == result["models"]["base"]["text"]
    assert json.loads(record["ground_truth"]) == correction and record["label_valid"]
    assert "flagged" in record["error_kinds"]


def encrypted_pdf() -> bytes:
    """A PDF under the standard security handler whose empty user password does not open it."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>",
    ]  # fmt: skip
    ids = b"<" + b"33" * 16 + b">"
    return pdf(objects).replace(b"/Root 1 0 R >>", b"/Root 1 0 R /Encrypt 4 0 R /ID [" + ids + b" " + ids + b"] >>")


def bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Each bad upload and the words its message must hold."""
    png = io.BytesIO()
    Image.new("RGB", (300, 300), "white").save(png, "PNG")
    bomb = io.BytesIO()
    Image.new("1", (9000, 9000)).save(bomb, "PNG")  # 81 Mpixel in a few kB: refused from its header
    files = {
        "not_a_page.png": (b"name,total\nACME,12.00\n", "not an image or PDF"),
        "damaged.png": (png.getvalue()[:200], "damaged PNG"),
        "empty.pdf": (pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]), "no pages"),
        "encrypted.pdf": (encrypted_pdf(), "encrypted PDF"),
        "bomb.png": (bomb.getvalue(), "oversized page"),
        "huge_page.pdf": (one_page_pdf(14400), "oversized page"),  # 200 inches a side: 30,000 px at 150 dpi
        "empty.png": (b"", "empty file"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: (folder / name, words) for name, (_, words) in files.items()}


def test_bad_input_gets_its_message_and_the_app_keeps_serving(app, client, tmp_path):
    from gradio_client.exceptions import AppError

    page, truth = example(app, "invoice_en_GB")
    files = bad_files(tmp_path)
    cases = {name: (path, {}) for name, (path, _) in files.items()}
    words = {name: w for name, (_, w) in files.items()}
    cases |= {
        "tokens": (page, {"tokens": 5000}), "truth": (page, {"truth": "{not json"}),
        "schema": (page, {"truth": '{"doc_type": "menu"}'}), "fields": (page, {"fields": "colour"}),
        "pdf_page": (example(app)[0].with_suffix(".pdf"), {"page_number": 3}),
    }  # fmt: skip
    words |= {"tokens": "greater than maximum value 96", "truth": "does not parse", "schema": "not a FinScribe document",
              "fields": "unknown field 'colour'", "pdf_page": "no page 3: the PDF has 1"}  # fmt: skip
    for name, (path, options) in cases.items():
        with pytest.raises(AppError) as raised:
            compare(client, path, **options)
        assert words[name] in str(raised.value), name
        assert "Traceback" not in str(raised.value)
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(3 * 2**20))  # over FINSCRIBE_MAX_UPLOAD_MB: Gradio refuses the upload itself
    with pytest.raises(Exception, match="(?i)file.*(large|size)"):
        compare(client, big)
    assert compare(client, page, truth)["models"]["finetuned"]["text"]  # and the next request is served


def test_a_pdf_page_or_the_whole_pdf(app, client):
    page, _ = example(app)
    whole, first = compare(client, page.with_suffix(".pdf")), compare(client, page.with_suffix(".pdf"), page_number=1)
    assert whole["models"]["base"]["text"] == first["models"]["base"]["text"]  # one page: the same document


def choose(page, path: Path):
    """Upload a file through the page's file input, and wait until it is uploaded (not merely named)."""
    from playwright.sync_api import expect

    upload = page.locator("#upload")
    upload.get_by_role("button", name="Clear").click()
    upload.locator("input[type=file]").set_input_files(str(path))
    expect(upload).to_contain_text(path.stem)
    expect(upload).not_to_contain_text("Uploading")


@pytest.mark.slow
def test_the_page_in_a_real_browser(app, tmp_path):
    """Headless Chromium: pick an example (its page and true JSON), press Compare, wait for both readings and the
    field table with its right and wrong marks; then upload bad files (damaged, not a page, an empty and an
    encrypted PDF, a decompression bomb), each of which gets its message in the page, and a good page, which is
    still compared."""
    from playwright.sync_api import expect, sync_playwright

    page_file, _ = example(app, "receipt_ja_JP")
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(page_file.read_bytes()[:300])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(app["url"])
        for _ in range(10):  # the example fills the upload and the true JSON, once the page's scripts handle clicks
            page.get_by_text(page_file.name).first.click()
            if page_file.stem in page.locator("#upload").inner_text():
                break
            page.wait_for_timeout(1000)
        expect(page.locator("#upload")).to_contain_text(page_file.stem)
        compare_button = page.get_by_role("button", name="Compare", exact=True)
        compare_button.click()
        table = page.locator("#field-table table")
        expect(table).to_be_visible(timeout=90_000)
        for model in ("base", "finetuned"):
            expect(page.locator(f"#summary-{model}")).to_contain_text("tokens/s")
            expect(page.locator(f"#summary-{model}")).to_contain_text("Field accuracy")
        assert table.locator("tr").count() > 10 and table.locator("td.wrong").count() >= 1
        page.screenshot(path=str(tmp_path / "space.png"), full_page=True)
        if target := os.environ.get("FINSCRIBE_SCREENSHOT"):
            shutil.copy(tmp_path / "space.png", target)

        bad = {damaged: "unreadable image: damaged JPEG"} | {
            path: words for name, (path, words) in bad_files(tmp_path).items()
            if name in ("not_a_page.png", "empty.pdf", "encrypted.pdf", "bomb.png")
        }  # fmt: skip
        for path, words in bad.items():
            choose(page, path)
            compare_button.click()
            expect(page.locator("#status")).to_contain_text(words, timeout=30_000)
        choose(page, page_file)
        compare_button.click()
        expect(page.locator("#summary-base")).to_contain_text("tokens/s", timeout=90_000)
        assert "Traceback" not in page.locator("body").inner_text()
        browser.close()


# trainer.space's pieces, without a server


def test_rule_verdicts_name_each_rule_run():
    receipt = {"doc_type": "receipt", "currency": "EUR", "prices_include_tax": True,
               "line_items": [{"description": "Tea", "quantity": "2", "unit_price": "1.50", "amount": "3.00"}],
               "subtotal": "3.00", "discount": None, "rounding": None, "total": "3.10"}  # fmt: skip
    verdicts = rule_verdicts(receipt)
    assert list(verdicts) == ["schema", "minor_units", "line_amount", "subtotal", "total"]  # no taxes: no tax rules
    assert verdicts["total"] and all(not verdicts[rule] for rule in ("schema", "line_amount", "subtotal"))
    assert list(rule_verdicts({"doc_type": "receipt", "total": "1,00"})) == ["schema"]  # nothing else runs
    assert rule_verdicts({"doc_type": "receipt"}) == {"schema": []}  # nothing labelled: nothing checked
    del receipt["rounding"]  # not labelled: the total cannot be checked, so it is not said to pass
    assert "total" not in rule_verdicts(receipt)


def test_field_rows_pair_line_items_as_the_evaluation_does():
    truth = {
        "doc_type": "receipt",
        "total": "3.00",
        "line_items": [{"description": "Tea", "amount": "1.00"}, {"description": "Cake", "amount": "2.00"}],
    }
    swapped = {**truth, "line_items": truth["line_items"][::-1]}
    rows = space.field_rows({"base": json.dumps(swapped), "finetuned": "no json"}, truth)
    by_field = {row["field"]: row for row in rows}
    assert by_field["line_items.0.description"]["base"] == "Tea"  # paired with the truth's first item, as scored
    assert all(row["base_right"] for row in rows) and not any(row["finetuned_right"] for row in rows)
    assert not by_field["total"]["same"]
    assert space.scores(json.dumps(truth), truth) == {"field_accuracy": 1.0, "teds": 1.0}
    swapped_scores = space.scores(json.dumps(swapped), truth)  # the items are right, but the table is not in order
    assert swapped_scores["field_accuracy"] == 1.0 and swapped_scores["teds"] < 1


def test_asks_for_follows_the_subset_prompt():
    assert space.asks_for(["total", "vendor.name"], "vendor.name")
    assert not space.asks_for(["total", "vendor.name"], "vendor.address")
    assert space.asks_for(["line_items"], "line_items.3.amount") and not space.asks_for(["taxes"], "total")


def test_a_reading_out_of_time_says_so(tiny_model_dir):
    from trainer.data.pages import read_page
    from trainer.synth.generate import make_sample

    reader = space.Reader(str(tiny_model_dir))
    pages = [read_page(make_sample(0, 1, ("invoice",), ("de_DE",))["image"], 3136)]
    *_, reading = reader.stream(pages, None, adapter=False, max_new_tokens=64, max_time=1e-6)
    assert reading["ended"] == "time" and reading["tokens"] < 64


def test_an_empty_pdf_read_after_an_encrypted_one_still_says_no_pages(tmp_path):
    """PDFium's last error outlives the document that set it: the next bad PDF must not inherit it."""
    from trainer.data.pages import PageError, open_pdf

    files = bad_files(tmp_path)
    for first, second in (("encrypted.pdf", "empty.pdf"), ("empty.pdf", "encrypted.pdf")):
        for name in (first, second):
            with pytest.raises(PageError, match=files[name][1]):
                open_pdf(files[name][0].read_bytes())


def test_an_upload_reads_a_multi_page_tiff_as_pages_and_a_phone_photo_upright(tmp_path):
    from trainer.data.pages import PageError

    config = space.SpaceConfig(max_pixels=10**6)
    pages = [Image.new("RGB", (200, 300 + 20 * i), "white") for i in range(3)]
    pages[0].save(tmp_path / "fax.tif", save_all=True, append_images=pages[1:])
    assert [page.height for page in space.document_pages(tmp_path / "fax.tif", None, config)] == [300, 320, 340]
    assert space.document_pages(tmp_path / "fax.tif", 2, config)[0].height == 320
    with pytest.raises(PageError, match="no page 4: the TIFF has 3"):
        space.document_pages(tmp_path / "fax.tif", 4, config)
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: held turned, shown after a quarter turn clockwise
    Image.new("RGB", (300, 200), "white").save(tmp_path / "phone.jpg", exif=exif)
    assert space.document_pages(tmp_path / "phone.jpg", None, config)[0].size == (200, 300)


def test_config_reads_the_environment():
    config = space.SpaceConfig.from_env({"FINSCRIBE_ADAPTER": "me/adapter", "FINSCRIBE_MAX_NEW_TOKENS": "256"})
    assert config.adapter == "me/adapter" and config.max_new_tokens == 256 and config.variant is None
    with pytest.raises(InputError, match="FINSCRIBE_TIME_LIMIT='soon' is not a float"):
        space.SpaceConfig.from_env({"FINSCRIBE_TIME_LIMIT": "soon"})


def test_a_deployment_variant_gets_its_own_column(tiny_model_dir, adapter_dir, tmp_path):
    from trainer.data.pages import read_page
    from trainer.inference import generate, load_for_inference
    from trainer.quantize.variants import quantize_model
    from trainer.synth.generate import make_sample

    variant = quantize_model(str(tiny_model_dir), tmp_path / "int8", "torchao-int8", adapter=str(adapter_dir))
    config = space.SpaceConfig(
        base_model=str(tiny_model_dir), adapter=str(adapter_dir), variant=str(variant), max_pixels=3136
    )
    columns = space.load_columns(config)
    assert list(columns) == ["base", "finetuned", "variant"] and columns["base"][0] is columns["finetuned"][0]
    pages = [read_page(make_sample(0, 0, ("receipt",), ("en_US",))["image"], 3136)]
    *_, result = space.compare(columns, pages, None, None, 32)
    model, processor = load_for_inference(str(variant))
    assert result["models"]["variant"]["text"] == generate(model, processor, [pages], max_new_tokens=32)[0]
    assert result["models"]["variant"]["tokens_per_second"] > 0
    assert all("variant" in row for row in result["fields"])


def run_space(*argv: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "trainer.space", *argv], capture_output=True, text=True, env=env, cwd=cwd
    )


@pytest.mark.slow
def test_deploy_stages_the_space_and_offline_stops_in_one_line(tmp_path):
    staged = tmp_path / "space"
    done = run_space("deploy", "--space-id", "me/finscribe", "--adapter", "me/adapter", "--output-dir", str(staged))
    assert done.returncode == 1 and done.stderr.strip().count("\n") == 0, done.stderr
    assert done.stderr.startswith("error: could not upload") and "me/finscribe" in done.stderr
    from huggingface_hub import SpaceCard

    card = SpaceCard.load(staged / "README.md").data
    assert (card.sdk, card.app_file, card.suggested_hardware) == ("gradio", "app.py", "t4-small")
    assert card.models == ["PaddlePaddle/PaddleOCR-VL", "me/adapter"] and card.short_description
    requirements = (staged / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("gradio==") for line in requirements) and "torch>=2.6" in requirements
    assert sorted(p.name for p in (staged / "examples").glob("*.json")) == sorted(
        f"{doc_type}_{locale}.json" for doc_type, locale in space.EXAMPLES
    )
    # The Space runs app.py from its folder: the staged trainer package is the one it imports.
    found = subprocess.run(
        [sys.executable, "-c", "import trainer.space; print(trainer.space.__file__)"], cwd=staged,
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""},
    )  # fmt: skip
    assert Path(found.stdout.strip()).is_relative_to(staged)
    assert run_space("stage", "--output-dir", str(staged)).returncode == 0  # staged afresh, nothing uploaded


@pytest.mark.parametrize(
    ("argv", "message"),
    [((), "python -m trainer.space deploy|stage"), (("publish",), "got 'publish'"),
     (("deploy",), "deploy needs --space_id")],
)  # fmt: skip
@pytest.mark.slow
def test_space_command_misuse_is_one_line_and_exit_2(argv, message):
    done = run_space(*argv)
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_an_unreachable_mining_repo_leaves_the_log_local(caplog):
    config = space.SpaceConfig(mining_repo="me/flagged")
    with caplog.at_level("WARNING"):
        lock, destination = space.flag_lock(config)
    assert lock.acquire(blocking=False) and destination == "flagged" and "flagged pages stay in flagged" in caplog.text
