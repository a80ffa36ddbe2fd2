"""The model bar's status: "generating…" while an answer is written, then what it said."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.support.model_infos import R1_7B as INFO
from ui.engine.model_bar import ModelBar


def test_status_says_generating_then_ready_again(qtbot) -> None:  # type: ignore[no-untyped-def]
    bar = ModelBar()
    qtbot.addWidget(bar)
    bar.set_loaded(INFO)
    assert bar.status.text() == "ready"
    bar.set_generating(True)
    assert bar.status.text() == "generating…"
    bar.set_generating(False)
    assert bar.status.text() == "ready"


def test_while_serving_the_address_stays_and_generating_is_added(qtbot) -> None:  # type: ignore[no-untyped-def]
    bar = ModelBar()
    qtbot.addWidget(bar)
    bar.set_loaded(INFO)
    bar.set_serving("http://127.0.0.1:8642/v1")
    bar.set_generating(True)
    assert bar.status.text() == "API 127.0.0.1:8642 · generating…"
    bar.set_generating(False)
    assert bar.status.text() == "API 127.0.0.1:8642"
    bar.set_serving("")
    assert bar.status.text() == "ready"


def test_a_failed_load_keeps_its_message_after_an_answer_ends(qtbot) -> None:  # type: ignore[no-untyped-def]
    bar = ModelBar()
    qtbot.addWidget(bar)
    bar.set_generating(True)
    bar.set_failed("the file is not a GGUF model")
    bar.set_generating(False)
    assert bar.status.text() == "the file is not a GGUF model"


def test_the_bar_shows_how_many_layers_are_on_the_gpu(qtbot) -> None:  # type: ignore[no-untyped-def]
    bar = ModelBar()
    qtbot.addWidget(bar)
    bar.set_loaded(INFO.replace(n_gpu_layers=20, n_layer=28))
    assert bar.name.text().endswith(" · GPU: 20/28 layers")
    bar.set_loaded(INFO.replace(n_gpu_layers=-1, n_layer=28))
    assert bar.name.text().endswith(" · GPU: 28/28 layers")
    bar.set_loaded(INFO.replace(n_gpu_layers=0, n_layer=28))
    assert bar.name.text().endswith(" · CPU")
