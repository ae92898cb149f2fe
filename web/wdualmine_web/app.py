"""``wdualmine-web``: the trame-slicer server; opens with the bundled sample loaded and fused."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

from . import MODULE_FOLDER  # noqa: F401  (puts WDualMineFusionLib on sys.path)

STARTED = time.perf_counter()
log = logging.getLogger("wdualmine_web")


def buildParser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wdualmine-web",
        description="WDualMine fusion in the browser (trame-slicer): the Slicer module's logic behind a web page.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes the app, "
                             "with no login, to everyone who can reach the port)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--data-folder", type=Path, default=None,
                        help="the only folder whose files the page may open by path (default: the bundled sample's folder)")
    parser.add_argument("--no-sample", dest="sample", action="store_false", help="do not open and fuse the bundled sample at start")
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"), help="where the fusion runs")
    return parser


class WebApp:
    def __init__(self, server, dataFolder: Path, device: str = "auto"):
        from trame_slicer import module as trameSlicerModule
        from trame_slicer.core import LayoutManager, SlicerApp
        from trame_slicer.rca_view import register_rca_factories
        from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition

        from .session import FusionSession
        from .ui import buildUi

        self.server = server
        server.enable_module(trameSlicerModule)
        self.slicerApp = SlicerApp()
        register_rca_factories(self.slicerApp.view_manager, server)
        self.layoutManager = LayoutManager(self.slicerApp.scene, self.slicerApp.view_manager, server)
        self.layoutManager.register_layout("WDualMine", Layout(LayoutDirection.Horizontal, [
            ViewLayoutDefinition.axial_view(),
            Layout(LayoutDirection.Vertical, [ViewLayoutDefinition.coronal_view(), ViewLayoutDefinition.sagittal_view()]),
        ]))
        self.layoutManager.set_layout("WDualMine")
        self._uploads = tempfile.TemporaryDirectory(prefix="wdualmine-web-uploads-")
        self.session = FusionSession(server, self.slicerApp, dataFolder, Path(self._uploads.name), device)
        self.ui = buildUi(server, self.layoutManager, {
            "open_paths": self.openPaths, "open_uploads": self.openUploads, "apply": self.apply,
            "cancel": self.session.cancel, "download": self.session.download, "download_controls": self.session.downloadControls,
            "load_controls": self.loadControls,
        })
        state = server.state
        state.change(*[*self.sessionControls(), "base"])(lambda **_: self.session.controlsChanged())
        state.change("overlay", "opacity")(lambda **_: self.session.updateDisplay())
        state.change("background")(lambda **_: self.session.setBackground())
        state.change("download_role", "download_format", "fusion_count")(self._downloadName)

    @staticmethod
    def sessionControls():
        from .session import NUMERIC_CONTROLS

        return NUMERIC_CONTROLS

    def _downloadName(self, download_role="fused", download_format="nrrd", **_):
        self.server.state.download_name = self.session.downloadName(download_role, download_format)

    # ------------------------------------------------------------ page actions
    def apply(self) -> None:
        asyncio.ensure_future(self.session.apply())

    def openPaths(self) -> None:
        state = self.server.state
        self.session.openPaths(state.reference_path, state.second_path)

    def openUploads(self) -> None:
        state = self.server.state
        files = []
        for key in ("upload_reference", "upload_second"):
            value = state[key]
            files.append(value[0] if isinstance(value, list) else value)
        if not all(files):
            self.session.showError("upload both volumes first: the reference (MRI) and the second (PET/CT/SPECT)")
            return
        paths = [self.session.saveUpload(file) for file in files]
        self.session.openPaths(str(paths[0]), str(paths[1]))

    def loadControls(self) -> None:
        value = self.server.state.upload_controls
        upload = value[0] if isinstance(value, list) else value
        if not upload:
            self.session.showError("upload a .controls.json file first")
            return
        self.session.loadControls(upload)

    async def openSampleAndFuse(self) -> None:
        """The bundled pair, fused with the default controls (auto on, as the panel's Apply)."""
        from wdualmine.errors import InputError
        from wdualmine.sample_data import verify_sample
        from WDualMineFusionLib.inputs import SAMPLE_NODE_NAMES

        try:
            paths = verify_sample()
            self.session.roots.append(Path(paths["MRI"]).parent)  # the bundled sample may be read wherever it is
            opened = self.session.openPaths(str(paths["MRI"]), str(paths["PET"]), (SAMPLE_NODE_NAMES["MRI"], SAMPLE_NODE_NAMES["PET"]))
        except InputError as error:
            self.session.showError(str(error))
            return
        if opened and await self.session.apply():
            log.info("first fused view ready %.1f s after start", time.perf_counter() - STARTED)
            with self.server.state:
                self.server.state.startup_seconds = round(time.perf_counter() - STARTED, 2)


def main(argv: list[str] | None = None) -> int:
    args, _ = buildParser().parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING, format="wdualmine-web: %(message)s")
    for name in ("wdualmine_web", "WDualMineFusionLib"):  # ours at info; trame's and wslink's chatter stays off
        logging.getLogger(name).setLevel(logging.INFO)
    from wdualmine.sample_data import sample_paths
    from trame.app import get_server

    dataFolder = (args.data_folder or Path(sample_paths()["MRI"]).parent).resolve()
    if not dataFolder.is_dir():
        print(f"wdualmine-web: error: the data folder {dataFolder} does not exist", file=sys.stderr)
        return 2
    server = get_server("wdualmine_web", client_type="vue3")
    app = WebApp(server, dataFolder, args.device)
    if args.sample:
        server.controller.on_server_ready.add(lambda **_: asyncio.ensure_future(app.openSampleAndFuse()))
    print(f"wdualmine-web: serving on http://{args.host}:{args.port}/ (data folder {dataFolder})", flush=True)
    server.start(host=args.host, port=args.port, open_browser=False, show_connection_info=True, disable_logging=True,
                 timeout=0)  # 0: keep serving when the last browser tab closes
    return 0


if __name__ == "__main__":
    sys.exit(main())
