"""Settings: sampling (with the family preset shown), context, GPU layers, threads, system prompt."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.families import Family
from app.request import LoopPolicy, Sampling
from app.settings import Settings


def _double(lo: float, hi: float, step: float, preset_text: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo - step, hi)  # the lowest value stands for "the family preset"
    box.setSingleStep(step)
    box.setDecimals(2)
    box.setSpecialValueText(preset_text)
    box.setValue(lo - step)
    return box


class SettingsPanel(QWidget):
    """Signals:
    reload_clicked(): context/GPU/threads changed; reload the model.
    """

    reload_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        form = QFormLayout()
        self.temperature = _double(0.0, 2.0, 0.05, "preset")
        self.top_p = _double(0.0, 1.0, 0.05, "preset")
        self.top_k = QSpinBox()
        self.top_k.setRange(-1, 1000)
        self.top_k.setSpecialValueText("preset")
        self.top_k.setValue(-1)
        self.min_p = _double(0.0, 1.0, 0.01, "preset")
        form.addRow("Temperature", self.temperature)
        form.addRow("Top P", self.top_p)
        form.addRow("Top K", self.top_k)
        form.addRow("Min P", self.min_p)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(0, 1_048_576)
        self.max_tokens.setSingleStep(512)
        self.max_tokens.setSpecialValueText("no limit")
        self.max_tokens.setToolTip("Cap on reasoning + answer tokens per message")
        form.addRow("Max tokens", self.max_tokens)
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.seed.setValue(-1)
        self.seed.setToolTip("A fixed seed makes an answer reproducible")
        form.addRow("Seed", self.seed)
        self.preset_label = QLabel("", self)
        self.preset_label.setObjectName("hint")
        self.preset_label.setWordWrap(True)
        form.addRow(self.preset_label)
        self.reset = QPushButton("Reset to the family preset", self)
        self.reset.clicked.connect(self.reset_sampling)
        form.addRow(self.reset)
        self.ctx = QSpinBox()
        self.ctx.setRange(0, 1_048_576)
        self.ctx.setSingleStep(1024)
        self.ctx.setSpecialValueText("auto")
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setRange(-2, 999)
        self.gpu_layers.setSpecialValueText("auto")
        self.gpu_layers.setValue(-2)
        self.gpu_layers.setToolTip(
            "auto: as many layers as fit in the GPU's memory (none on a CPU build); "
            "-1: all layers on the GPU"
        )
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("auto (physical cores)")
        form.addRow("Context size", self.ctx)
        form.addRow("GPU layers", self.gpu_layers)
        form.addRow("Threads", self.threads)
        self.apply = QPushButton("Apply (reloads the model)", self)
        self.apply.clicked.connect(self.reload_clicked)
        form.addRow(self.apply)
        outer.addLayout(form)
        outer.addWidget(QLabel("System prompt", self))
        self.system_prompt = QPlainTextEdit(self)
        self.system_prompt.setPlaceholderText("Optional instructions for every message")
        self.system_prompt.setMaximumHeight(120)
        outer.addWidget(self.system_prompt)
        self.advice = QLabel("", self)
        self.advice.setObjectName("hint")
        self.advice.setWordWrap(True)
        outer.addWidget(self.advice)
        loop_row = QFormLayout()
        self.on_loop = QComboBox(self)
        for label, policy in (
            ("warn me", LoopPolicy.WARN),
            ("stop thinking and answer", LoopPolicy.ANSWER),
            ("do nothing", LoopPolicy.OFF),
        ):
            self.on_loop.addItem(label, policy)
        self.on_loop.setToolTip("What happens when the model's reasoning goes in circles")
        loop_row.addRow("When it goes in circles", self.on_loop)
        outer.addLayout(loop_row)
        self.collapse = QCheckBox("Collapse the reasoning when the answer starts", self)
        self.collapse.setChecked(True)
        outer.addWidget(self.collapse)
        self.reload_last = QCheckBox("Reload the last model at start", self)
        self.reload_last.setChecked(True)
        outer.addWidget(self.reload_last)
        self.save_api = QCheckBox("Save conversations from the API in the history", self)
        self.save_api.setToolTip(
            "While \u201cServe API\u201d is on, keep what other programs ask the model (and "
            "its answers) in the sidebar, one conversation per chat"
        )
        outer.addWidget(self.save_api)
        self.serve_network = QCheckBox("Let other devices on this network use the API", self)
        self.serve_network.setToolTip(
            "\u201cServe API\u201d then listens on every address of this computer, and every "
            "request must carry the API key (Authorization: Bearer KEY)"
        )
        outer.addWidget(self.serve_network)
        key_row = QHBoxLayout()
        self.copy_key = QPushButton("Copy API key", self)
        self.copy_key.setToolTip("The key other devices send; kept in the system keyring")
        self.new_key = QPushButton("New key", self)
        self.new_key.setToolTip("Replace the key: devices that knew the old one are refused")
        key_row.addWidget(self.copy_key)
        key_row.addWidget(self.new_key)
        key_row.addStretch(1)
        outer.addLayout(key_row)
        self.serve_network.toggled.connect(self._on_serve_network_toggled)
        self._on_serve_network_toggled(False)
        outer.addStretch(1)

    def _on_serve_network_toggled(self, on: bool) -> None:
        self.copy_key.setEnabled(on)
        self.new_key.setEnabled(on)

    def show_family(self, family: Family) -> None:
        p = family.preset
        self.preset_label.setText(
            f"{family.display_name} preset: temperature {p.temperature}, top P {p.top_p}, "
            f"top K {p.top_k}, min P {p.min_p}"
        )
        self.advice.setText(family.advice)

    def reset_sampling(self) -> None:
        for box in (self.temperature, self.top_p, self.min_p):
            box.setValue(box.minimum())
        self.top_k.setValue(-1)

    def loop_policy(self) -> LoopPolicy:
        policy = self.on_loop.currentData()
        return policy if isinstance(policy, LoopPolicy) else LoopPolicy.WARN

    def seed_value(self) -> int | None:
        return None if self.seed.value() < 0 else self.seed.value()

    def sampling(self) -> Sampling:
        def val(box: QDoubleSpinBox) -> float | None:
            return None if box.value() <= box.minimum() else round(box.value(), 3)

        return Sampling(
            temperature=val(self.temperature),
            top_p=val(self.top_p),
            top_k=None if self.top_k.value() < 0 else self.top_k.value(),
            min_p=val(self.min_p),
        )

    def load_from(self, s: Settings) -> None:
        for box, value in (
            (self.temperature, s.temperature),
            (self.top_p, s.top_p),
            (self.min_p, s.min_p),
        ):
            box.setValue(box.minimum() if value is None else value)
        self.top_k.setValue(-1 if s.top_k is None else s.top_k)
        self.max_tokens.setValue(s.max_tokens or 0)
        self.seed.setValue(-1 if s.seed is None else s.seed)
        self.ctx.setValue(s.n_ctx or 0)
        self.gpu_layers.setValue(-2 if s.n_gpu_layers is None else s.n_gpu_layers)
        self.threads.setValue(s.n_threads or 0)
        self.system_prompt.setPlainText(s.system_prompt)
        self.collapse.setChecked(s.collapse_trace)
        self.reload_last.setChecked(s.reload_last_model)
        self.save_api.setChecked(s.save_api_history)
        self.serve_network.setChecked(s.serve_network)
        index = self.on_loop.findData(
            LoopPolicy(s.on_loop) if s.on_loop in ("warn", "answer", "off") else LoopPolicy.WARN
        )
        self.on_loop.setCurrentIndex(max(index, 0))

    def store_into(self, s: Settings) -> None:
        sampling = self.sampling()
        s.temperature, s.top_p, s.top_k, s.min_p = (
            sampling.temperature,
            sampling.top_p,
            sampling.top_k,
            sampling.min_p,
        )
        s.max_tokens = self.max_tokens.value() or None
        s.seed = None if self.seed.value() < 0 else self.seed.value()
        s.n_ctx = self.ctx.value() or None
        s.n_gpu_layers = None if self.gpu_layers.value() == -2 else self.gpu_layers.value()
        s.n_threads = self.threads.value() or None
        s.system_prompt = self.system_prompt.toPlainText()
        s.collapse_trace = self.collapse.isChecked()
        s.reload_last_model = self.reload_last.isChecked()
        s.save_api_history = self.save_api.isChecked()
        s.serve_network = self.serve_network.isChecked()
        s.on_loop = self.loop_policy().value
