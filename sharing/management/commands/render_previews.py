import logging
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from sharing.previews import PreviewError, render_instances
from sharing.previews.batch import collect_files, plan_batch


class Command(BaseCommand):
    help = (
        "Render DICOM files (or folders, recursively) into a JPG per single-frame "
        "image and an MP4 per clip, with thumbnails and posters, in --out. "
        "Output names are numbered (img-001, clip-001), never taken from the input."
    )

    def add_arguments(self, parser):
        parser.add_argument("sources", nargs="+", metavar="SRC", help="DICOM file or folder")
        parser.add_argument("--out", required=True, type=Path, metavar="DIR")
        parser.add_argument("--workers", type=int, default=None, help="instances rendered at once")

    def handle(self, *args, sources, out, workers, verbosity, **options):
        if verbosity < 2:
            # pydicom logs every failed decoder plugin with a traceback; the
            # per-instance line below already gives the reason.
            logging.getLogger("pydicom").setLevel(logging.CRITICAL)
        try:
            items, skipped = plan_batch(collect_files(sources))
        except FileNotFoundError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        for src, reason in skipped:
            self.stdout.write(f"skipped {src}: {reason}")
        if not items:
            raise CommandError("no DICOM image found")
        results = render_instances(items, out, workers=workers)
        failed = 0
        for (src, stem), result in zip(items, results):
            if isinstance(result, PreviewError):
                failed += 1
                self.stderr.write(f"{stem} FAILED {src}: {result.reason}")
            else:
                rate = f" {result.frames} frames at {result.fps} fps" if result.kind == "clip" else ""
                self.stdout.write(
                    f"{stem} {result.kind} {result.width}x{result.height}{rate} "
                    f"-> {result.media.name} ({src})"
                )
        if failed:
            raise CommandError(f"{failed} of {len(items)} instances could not be rendered")
