"""``python -m anonymizer SRC DST --profile strict|basic [--option NAME]... [--key SECRET] [--report CSV]``

SRC is a file or a folder (walked recursively), DST a folder; each output
file is named after its new SOP Instance UID.  Two inputs with the same SOP
Instance UID never overwrite each other: identical outputs share one file,
different ones are kept both (``{uid}-2.dcm``), and the report says so.
Exit status: 0 when every input was written or deliberately discarded, 1
when any was rejected (bad input) or failed (a defect of this program,
logged on stderr with its stack and a reference), 2 on usage errors and
when the text detection models cannot be loaded (checked before any file
is read).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path

from .anonymize import anonymize_file
from .options import Option
from .pixels import TextEngineUnavailable, load_text_engine
from .profiles import profile_named
from .report import write_report

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m anonymizer",
        description="De-identify DICOM files (strict allow-list, or PS3.15 Basic Profile with options).",
    )
    parser.add_argument("src", type=Path, help="a DICOM file or a folder (recursively)")
    parser.add_argument("dst", type=Path, help="output folder (created if missing)")
    parser.add_argument("--profile", choices=("strict", "basic"), required=True)
    parser.add_argument("--option", action="append", default=[], metavar="NAME",
                        help="a PS3.15 option for --profile basic: " + ", ".join(o.value for o in Option))
    parser.add_argument("--key", help="secret for consistent UID remapping (default: $ANONYMIZER_KEY, "
                                      "else a random key for this run only)")
    parser.add_argument("--report", type=Path, metavar="CSV",
                        help="write the original<->anonymized report here (it holds PHI)")
    parser.add_argument("--accept-unverified", action="store_true",
                        help="staff accept images whose burned-in text could not be verified")
    return parser


def iter_sources(src: Path):
    """Every file under ``src`` (or ``src`` itself), in a stable order."""
    if src.is_file():
        yield src
        return
    for folder, folders, files in os.walk(src):
        folders.sort()
        for name in sorted(files):
            yield Path(folder) / name


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        profile = profile_named(args.profile, args.option)
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        print(f"python -m anonymizer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.src.exists():
        print(f"python -m anonymizer: error: {args.src} does not exist", file=sys.stderr)
        return EXIT_USAGE
    if args.dst.exists() and not args.dst.is_dir():
        print(f"python -m anonymizer: error: {args.dst} exists and is not a folder", file=sys.stderr)
        return EXIT_USAGE
    key = args.key or os.environ.get("ANONYMIZER_KEY")
    if not key:
        key = secrets.token_hex(32)
        print("python -m anonymizer: no --key or ANONYMIZER_KEY: UIDs are consistent within this run only",
              file=sys.stderr)
    if profile.clean_pixels:
        try:
            load_text_engine()  # once per run, and a broken model stops us before any file
        except TextEngineUnavailable as exc:
            print(f"python -m anonymizer: error: cannot clean pixels: {exc}", file=sys.stderr)
            return EXIT_USAGE
    args.dst.mkdir(parents=True, exist_ok=True)
    dst_resolved = args.dst.resolve()
    # Defects are logged with their stack (no identifiers) for whoever runs the command.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="python -m anonymizer: %(message)s")

    results = []
    for source in iter_sources(args.src):
        if dst_resolved in source.resolve().parents:
            continue  # never re-read our own output when DST is inside SRC
        result = anonymize_file(source, args.dst, profile=profile, key=key.encode("utf-8"),
                                accept_unverified=args.accept_unverified)
        results.append(result)
        if result.status != "written":
            print(f"{result.status}: {source}: {result.reason}", file=sys.stderr)
        elif not result.shareable:
            print(f"unverified: {source}: {result.reason}", file=sys.stderr)
        elif "SOP Instance UID" in result.reason:
            print(f"duplicate: {source}: {result.reason}", file=sys.stderr)
    if args.report:
        write_report(args.report, results)
    counts = {status: sum(r.status == status for r in results)
              for status in ("written", "discarded", "rejected", "failed")}
    unverified = sum(r.status == "written" and not r.shareable for r in results)
    files = len({r.output for r in results if r.status == "written"})
    print(f"written {counts['written']}, discarded {counts['discarded']}, rejected {counts['rejected']}, "
          f"failed {counts['failed']}, unverified pixels {unverified}, output files {files}")
    return EXIT_REJECTED if counts["rejected"] or counts["failed"] else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
