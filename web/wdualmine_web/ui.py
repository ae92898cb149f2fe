"""The page: inputs, the fusion controls, Apply/Cancel with progress, display, metrics and downloads around
the trame-slicer slice views. Element ids (``wdm-*``) are what the browser tests and a user's scripts find."""

from __future__ import annotations

from trame.ui.vuetify3 import SinglePageWithDrawerLayout
from trame.widgets import html
from trame.widgets import vuetify3 as v3

from .session import NUMERIC_CONTROLS, OUTPUT_LABELS


def buildUi(server, layoutManager, handlers) -> SinglePageWithDrawerLayout:
    """``handlers``: open_paths, open_uploads, apply, cancel, download (role, fmt) -> attachment, download_name,
    download_controls () -> attachment, load_controls (the uploaded controls file)."""
    state = server.state
    state.trame__title = "WDualMine fusion"
    download = (
        "utils.download(download_name, trigger('{trigger}', [download_role, download_format]), 'application/octet-stream')"
    ).format(trigger=server.controller.trigger_name(handlers["download"]))
    downloadControls = (
        "utils.download('fusion.controls.json', trigger('{trigger}', []), 'application/json')"
    ).format(trigger=server.controller.trigger_name(handlers["download_controls"]))
    with SinglePageWithDrawerLayout(server, full_height=True) as layout:
        layout.title.set_text("WDualMine fusion")
        with layout.toolbar:
            v3.VSpacer()
            html.Span("{{ pair_names }}", id="wdm-pair", classes="text-body-2 mr-4")
            html.Span("status: {{ status }}", id="wdm-status", classes="text-body-2 mr-4")
            html.Span("scene: {{ scene_volumes }} volumes", id="wdm-scene-volumes", classes="text-body-2 mr-4")
            html.Span("fusions: {{ fusion_count }}", id="wdm-fusion-count", classes="text-body-2 mr-4")
            html.Span("previews: {{ preview_count }}", id="wdm-preview-count", classes="text-body-2 mr-2")
        layout.drawer.width = 380
        with layout.drawer:
            with v3.VContainer(classes="pa-2"):
                v3.VAlert(v_if=("error",), text=("error",), type="error", density="compact", id="wdm-error", classes="mb-2")
                _inputs(handlers)
                _controls(handlers)
                _display()
                _results(download, downloadControls)
        with layout.content:
            with v3.VContainer(fluid=True, classes="fill-height pa-0"):
                layoutManager.initialize_layout_grid(layout)
    return layout


def _inputs(handlers) -> None:
    html.Div("Inputs", classes="text-subtitle-2")
    html.Div("data folder: {{ data_folder }}", classes="text-caption mb-1")
    v3.VTextField(v_model=("reference_path",), label="Reference volume (MRI), path in the data folder", density="compact",
                  hide_details=True, id="wdm-reference-path", classes="mb-1")
    v3.VTextField(v_model=("second_path",), label="Second volume (PET/CT/SPECT)", density="compact", hide_details=True,
                  id="wdm-second-path", classes="mb-1")
    v3.VBtn("Open paths", click=handlers["open_paths"], size="small", id="wdm-open-paths", disabled=("busy",), classes="mb-2")
    v3.VFileInput(v_model=("upload_reference", None), label="Upload reference (MRI)", density="compact", hide_details=True,
                  id="wdm-upload-reference", show_size=True)
    v3.VFileInput(v_model=("upload_second", None), label="Upload second (PET/CT/SPECT)", density="compact",
                  hide_details=True, id="wdm-upload-second", show_size=True)
    v3.VBtn("Open uploaded pair", click=handlers["open_uploads"], size="small", id="wdm-open-uploads",
            disabled=("busy || !upload_reference || !upload_second",), classes="mb-2")
    with v3.VBtnToggle(v_model=("task",), mandatory=True, density="compact", divided=True, classes="mb-1"):
        for task in ("ct", "pet", "spect"):
            v3.VBtn(task.upper(), value=task, size="small", id=f"wdm-task-{task}")
    v3.VSelect(v_model=("functional",), items=("[{value: 'second', title: 'second volume is the PET/CT/SPECT'}, "
                                              "{value: 'reference', title: 'reference is the PET/CT/SPECT'}]",),
               density="compact", hide_details=True, id="wdm-functional")


def _controls(handlers) -> None:
    html.Div("Controls", classes="text-subtitle-2 mt-3")
    # a controls file (wdualmine fuse --save-controls, the Slicer panel's, or this page's download) into the sliders
    with html.Div(classes="d-flex align-center ga-2"):
        v3.VFileInput(v_model=("upload_controls", None), label="Controls file (.controls.json)", density="compact",
                      hide_details=True, id="wdm-upload-controls", accept=".json")
        v3.VBtn("Load", click=handlers["load_controls"], size="small", id="wdm-load-controls",
                disabled=("busy || !upload_controls",))
    for index, name in enumerate(NUMERIC_CONTROLS):
        spec = f"control_specs[{index}]"
        v3.VSlider(
            v_model=(name,), min=(f"{spec}.min",), max=(f"{spec}.max",), step=(f"{spec}.step",),
            label=(f"{spec}.label",), thumb_label=True, density="compact", hide_details=True, id=f"wdm-control-{name}",
            disabled=("busy",),
        )
    v3.VSelect(v_model=("base",), items=("bases",), label="Base average", density="compact", hide_details=True, id="wdm-base")
    v3.VCheckbox(v_model=("auto_tune",), label="Auto-tune controls on Apply", density="compact", hide_details=True, id="wdm-auto")
    v3.VCheckbox(v_model=("live_preview",), label="Live preview (the Red view's slice)", density="compact", hide_details=True,
                 id="wdm-live-preview")
    with html.Div(classes="d-flex align-center"):
        v3.VBtn("Apply", click=handlers["apply"], color="primary", v_if=("!busy",), id="wdm-apply")
        v3.VBtn("Cancel", click=handlers["cancel"], color="warning", v_else=True, id="wdm-cancel")
        html.Span("Apply {{ apply_seconds }} s", v_if=("apply_seconds !== null",), classes="text-caption ml-2", id="wdm-apply-seconds")
        html.Span("preview {{ preview_ms }} ms", v_if=("preview_ms !== null",), classes="text-caption ml-2", id="wdm-preview-ms")
    v3.VProgressLinear(model_value=("progress",), height=6, color=("busy ? 'primary' : 'grey'",), classes="mt-1", id="wdm-progress")


def _display() -> None:
    html.Div("Display", classes="text-subtitle-2 mt-3")
    with v3.VBtnToggle(v_model=("overlay",), mandatory=True, density="compact", divided=True):
        for key, title in (("reliabilityA", "Rel. PET/CT"), ("reliabilityB", "Rel. MRI"), ("arbitration", "Arbitration"),
                           ("none", "None")):
            v3.VBtn(title, value=key, size="x-small", id=f"wdm-overlay-{key}")
    # the arbitration map of a fusion without the experts' residual shapes nothing: said where the map is chosen
    html.Div("{{ arbitration_note }}", v_if=("overlay === 'arbitration' && arbitration_note",), classes="text-caption text-warning",
             id="wdm-arbitration-note")
    v3.VSlider(v_model=("opacity",), min=0, max=1, step=0.05, label="Overlay opacity", density="compact",
               hide_details=True, id="wdm-opacity")
    with v3.VBtnToggle(v_model=("background",), mandatory=True, density="compact", divided=True, v_if=("has_rgb",)):
        v3.VBtn("Fused grey", value="fused", size="x-small", id="wdm-background-fused")
        v3.VBtn("Fused colour (RGB)", value="fusedRGB", size="x-small", id="wdm-background-rgb")


def _results(download: str, downloadControls: str) -> None:
    html.Div("Metrics (central slices)", classes="text-subtitle-2 mt-3")
    v3.VDataTable(headers=("metrics_headers",), items=("metrics_rows",), density="compact", hide_default_footer=True,
                  items_per_page=20, id="wdm-metrics")
    html.Div("Download", classes="text-subtitle-2 mt-3")
    roles = ", ".join(f"{{value: '{key}', title: '{title}'}}" for key, title in OUTPUT_LABELS.items())
    with html.Div(classes="d-flex"):
        v3.VSelect(v_model=("download_role", "fused"), items=(f"[{roles}]",), density="compact", hide_details=True)
        v3.VSelect(v_model=("download_format", "nrrd"), items=("['nrrd', 'nifti']",), density="compact", hide_details=True)
    with html.Div(classes="d-flex ga-2"):
        v3.VBtn("Download", click=download, size="small", id="wdm-download", disabled=("fusion_count < 1",))
        # the last fusion's controls (auto's choice, a fitted curve included) for `wdualmine fuse --controls` or the panel
        v3.VBtn("Download controls", click=downloadControls, size="small", id="wdm-download-controls", disabled=("fusion_count < 1",))
    html.Div("Log", classes="text-subtitle-2 mt-3")
    html.Pre("{{ log_lines.join('\\n') }}", classes="text-caption", style="white-space: pre-wrap;", id="wdm-log")
