"""Preview renderer: DICOM instances to JPG stills and browser-playable MP4 clips.

No Django here: the share pipeline and ``manage.py render_previews`` call
these functions, and they can be used (and tested) on their own.

The package is split like :mod:`pydicom.pixels`:

* :mod:`.frames` -- frame sources, decoding one frame at a time;
* :mod:`.video` -- MPEG-2, H.264 and HEVC clips: FFmpeg's decoding, and
  the remux of a stream browsers already play;
* :mod:`.sizing` -- the patient-sized maximum and the pixel budget;
* :mod:`.processing` -- Modality LUT, VOI, MONOCHROME1, palette, colour;
* :mod:`.frame_rate` -- the playback rate of a clip;
* :mod:`.stills` and :mod:`.clips` -- the JPG and MP4 sinks;
* :mod:`.render` -- the public API tying them together;
* :mod:`.batch` -- files and identifier-free stems for the command line.
"""

from .errors import NotAnImage, PreviewError
from .render import RenderedPreview, render_clip, render_instance, render_instances, render_still

__all__ = [
    "NotAnImage",
    "PreviewError",
    "RenderedPreview",
    "render_clip",
    "render_instance",
    "render_instances",
    "render_still",
]
