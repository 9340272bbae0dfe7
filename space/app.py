"""FinScribe's Space: a document read by the base and the fine-tuned PaddleOCR-VL side by side.

    python space/app.py        # settings from the environment (trainer.space.reader.SpaceConfig); make space runs it offline

The reading, checking and comparing are `trainer.space`'s; this file draws the page and turns what they return
into components. The API (`/compare`, `/flag`) answers gradio_client with the same comparison as JSON.
"""

import html
import json
import logging
import os
import sys
from pathlib import Path

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

import gradio as gr

from trainer.errors import InputError
from trainer.quiet import known_noise_silenced
from trainer.space import reader as space

logger = logging.getLogger("finscribe.space")
TITLES = {"base": "Base model", "finetuned": "Fine-tuned", "variant": "Deployment variant"}
CSS = """
.fs-fields table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
.fs-fields th, .fs-fields td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
.fs-fields tr.differ td { background: #fff4d6; }
.fs-fields td.right { color: #11703a; font-weight: 600; }
.fs-fields td.wrong { color: #b3261e; font-weight: 600; }
"""


def shown(text: str) -> str:
    """A reading as the page shows it: a JSON object indented (its keys in the model's order), anything else as is."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return json.dumps(value, ensure_ascii=False, indent=1) if isinstance(value, dict) else text


def verdict_markdown(result: dict) -> str:
    """One column's summary: time and speed, how the reading ended, whether it is JSON, each rule passed or failed
    by name with what failed, and with a truth its scores."""
    ended = {"eos": "", "loop": " · **cut: repetition loop**", "budget": " · **cut: token cap**",
             "time": " · **cut: time limit**"}[result["ended"]]  # fmt: skip
    speed = f"{result['seconds']:.2f} s · {result['tokens']} tokens · {result['tokens_per_second']} tokens/s{ended}"
    json_state = {"valid": "✓ one JSON object", "inside other text": "✗ JSON inside other text", "none": "✗ no JSON"}
    blocks = [speed, json_state[result["json"]]]
    if rules := result["rules"]:
        blocks.append("Rules: " + " · ".join(f"{'✗' if failed else '✓'} `{rule}`" for rule, failed in rules.items()))
        failures = [violation for violations in rules.values() for violation in violations]
        blocks += ["\n".join(f"- {violation}" for violation in failures[:6])] if failures else []
    if result.get("field_accuracy") is not None:
        teds = "" if result.get("teds") is None else f" · TEDS {result['teds']:.3f}"
        blocks.append(f"**Field accuracy {result['field_accuracy']:.1%}**{teds}")
    return "\n\n".join(blocks)


def field_table_html(rows: list[dict], models: list[str]) -> str:
    """The field-by-field table; rows where the models differ are highlighted, right and wrong coloured."""
    if not rows:
        return "<p>No fields: neither reading is a JSON document.</p>"
    truth = "truth" in rows[0]
    head = ["field", *(TITLES[m] for m in models), "same?"] + (["truth"] if truth else [])
    body = []
    for row in rows:
        cells = [f"<td><code>{html.escape(row['field'])}</code></td>"]
        for model in models:
            right = row.get(f"{model}_right") if truth else None
            mark = {True: ' class="right"', False: ' class="wrong"', None: ""}[right]
            sign = {True: " ✓", False: " ✗", None: ""}[right]
            cells.append(f"<td{mark}>{html.escape(row[model])}{sign}</td>")
        cells.append(f"<td>{'same' if row['same'] else 'different'}</td>")
        if truth:
            cells.append(f"<td>{html.escape(row['truth'])}</td>")
        body.append(f'<tr class="{"same" if row["same"] else "differ"}">{"".join(cells)}</tr>')
    header = "".join(f"<th>{html.escape(name)}</th>" for name in head)
    return f'<div class="fs-fields"><table><tr>{header}</tr>{"".join(body)}</table></div>'


def build(config: space.SpaceConfig) -> gr.Blocks:
    columns = space.load_columns(config)
    models = list(columns)
    examples = space.write_examples(config.examples)
    flag_lock, flagged_to = space.flag_lock(config)

    def inputs_of(upload, page, fields, truth, max_new_tokens):
        """The request's pages and options, or gr.Error with the one-line reason."""
        try:
            if not upload:
                raise InputError("upload a page (PNG, JPEG, WebP, TIFF) or a PDF, or pick an example")
            pages = space.document_pages(upload, int(page) if page else None, config)
            tokens = int(max_new_tokens or config.max_new_tokens)
            if not 1 <= tokens <= config.max_new_tokens:
                raise InputError(f"max_new_tokens must be 1 to {config.max_new_tokens}")
            return pages, space.parse_fields(fields), space.parse_truth(truth), tokens
        except InputError as error:
            raise gr.Error(str(error), print_exception=False) from None

    def comparison(upload, page, fields, truth, max_new_tokens):
        pages, asked, truth_doc, tokens = inputs_of(upload, page, fields, truth, max_new_tokens)
        yield from space.compare(columns, pages, asked, truth_doc, tokens, config.time_limit)
        logger.info("compared %s (%d pages)", Path(upload).name, len(pages))

    def remembered(upload, page, fields, results):
        """What Flag needs of the last comparison: the request, to read its pages again, and each reading."""
        return {
            "upload": upload,
            "page": page,
            "fields": fields,
            "readings": {m: r["text"] for m, r in results.items()},
        }

    def compare_page(upload, page, fields, truth, max_new_tokens):
        """The page's comparison: a request that cannot be read says why in the status line (and a toast)."""
        texts = dict.fromkeys(models, "")
        try:
            pages, asked, truth_doc, tokens = inputs_of(upload, page, fields, truth, max_new_tokens)
        except gr.Error as error:
            gr.Warning(error.message)
            yield {status: f"**Not compared: {error.message}**"}
            return
        yield {status: "Reading…"}
        for step in space.compare(columns, pages, asked, truth_doc, tokens, config.time_limit):
            if "model" in step:
                texts[step["model"]] = step["text"]
                yield {readings[m]: texts[m] for m in models}
                continue
            results = step["models"]
            state = remembered(upload, page, fields, results)
            yield {
                **{readings[m]: shown(results[m]["text"]) for m in models},
                **{summaries[m]: verdict_markdown(results[m]) for m in models},
                **{tables[m]: table_value(results[m]["line_items"]) for m in models},
                field_table: field_table_html(step["fields"], models),
                last: state,
                status: "",
            }

    def compare_api(upload, page, fields, truth, max_new_tokens):
        *_, result = comparison(upload, page, fields, truth, max_new_tokens)
        state = remembered(upload, page, fields, result["models"])
        return result, state

    def flag(state, correction):
        if not state:
            raise gr.Error("compare a document first, then flag it", print_exception=False)
        pages, asked, _, _ = inputs_of(state["upload"], state["page"], state["fields"], None, 1)
        try:
            fixed = space.parse_truth(correction)
        except InputError as error:
            raise gr.Error(str(error), print_exception=False) from None
        new = space.flag(config, pages, state["readings"], asked, fixed, flag_lock)
        return f"Flagged: the page and both readings are in {flagged_to} (needs_label)." if new else "Already flagged."

    def show_page(upload):
        """The upload's first page for the visitor to look at; nothing when it cannot be read (Compare says why)."""
        try:
            return space.preview(upload, config) if upload else None
        except InputError:
            return None

    def table_value(rows):
        return {"headers": rows[0], "data": rows[1:]} if rows else {"headers": ["line items"], "data": []}

    # Gradio keeps uploads in its cache while a request uses them; anything older than an hour is deleted.
    with gr.Blocks(title="FinScribe: base vs fine-tuned", delete_cache=(600, 3600)) as demo:
        gr.Markdown(
            "# FinScribe: base vs fine-tuned PaddleOCR-VL\n"
            f"Base `{config.base_model}`" + (f", adapter `{config.adapter}`" if config.adapter else ", no adapter")
            + (f", variant `{config.variant}`" if config.variant else "")
            + ". Each reading is checked by the schema's rules, a check that needs no label. "
            "**Pages are logged only when you press Flag.**"
        )  # fmt: skip
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(
                    label="Page or PDF", type="filepath", height=120, elem_id="upload",
                    file_types=[".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".pdf"],
                )  # fmt: skip
                preview = gr.Image(label="The page", type="pil", interactive=False, height=420)
            with gr.Column(scale=1):
                page = gr.Number(0, label="PDF page (0: all its pages, as one document)", precision=0)
                fields = gr.Textbox(label="Fields to ask for (optional)", placeholder="vendor.name, total, line_items")
                max_new_tokens = gr.Slider(
                    16, config.max_new_tokens, value=min(512, config.max_new_tokens), step=16, label="max_new_tokens"
                )
                truth = gr.Code(
                    label="True JSON (optional: scores each reading)", language="json", lines=8, max_lines=14
                )
                run = gr.Button("Compare", variant="primary")
                status = gr.Markdown(elem_id="status")
        gr.Examples(
            [[str(page_file), json_file.read_text()] for page_file, json_file in examples],
            inputs=[upload, truth], label="Examples (generated, with their true JSON)", examples_per_page=len(examples),
        )  # fmt: skip
        readings, summaries, tables = {}, {}, {}
        with gr.Row():
            for model in models:
                with gr.Column():
                    gr.Markdown(f"### {TITLES[model]}")
                    summaries[model] = gr.Markdown(elem_id=f"summary-{model}")
                    readings[model] = gr.Code(
                        language="json", label="Reading (a JSON object is shown indented)", lines=6, max_lines=16,
                        wrap_lines=True, elem_id=f"reading-{model}",
                    )  # fmt: skip
                    tables[model] = gr.Dataframe(table_value([]), label="Line items", interactive=False, wrap=True)
        gr.Markdown("### Field by field")
        field_table = gr.HTML(elem_id="field-table", max_height=640)
        with gr.Row():
            correction = gr.Code(label="Your correction (optional JSON)", language="json", lines=4, max_lines=10)
            with gr.Column():
                flag_button = gr.Button("Flag as hard sample")
                flag_status = gr.Markdown(elem_id="flag-status")
        last = gr.State(None)
        api_result = gr.JSON(visible=False)

        upload.change(show_page, upload, preview, api_visibility="private")
        outputs = [*readings.values(), *summaries.values(), *tables.values(), field_table, last, status]
        limit = int(config.time_limit * len(models)) + 30  # each reading stops at time_limit; this bounds the rest
        run.click(compare_page, [upload, page, fields, truth, max_new_tokens], outputs, api_visibility="private",
                  time_limit=limit)  # fmt: skip
        gr.Button(visible=False).click(
            compare_api, [upload, page, fields, truth, max_new_tokens], [api_result, last], api_name="compare",
            time_limit=limit,
        )  # fmt: skip
        flag_button.click(flag, [last, correction], flag_status, api_name="flag")
    return demo


def main():
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    with known_noise_silenced():  # the libraries' known warnings as the models load, and their progress bars
        try:
            config = space.SpaceConfig.from_env()
            demo = build(config)
        except InputError as error:
            sys.exit(f"error: {error}")
        demo.queue(default_concurrency_limit=config.concurrency, max_size=config.queue_size).launch(
            server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
            server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
            max_file_size=f"{config.max_upload_mb}mb", css=CSS, show_error=True,
        )  # fmt: skip


if __name__ == "__main__":
    main()
