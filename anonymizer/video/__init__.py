"""Video transfer syntaxes (MPEG-2, H.264, HEVC in DICOM): read, check, clean, re-encode.

:mod:`.syntaxes` holds the table of syntaxes; :mod:`.bitstream` reads the
encapsulated stream lazily and writes a re-encoded one; :mod:`.transcode`
decodes, cleans frame by frame and re-encodes with FFmpeg through PyAV.
"""

from .bitstream import VideoBitstream, write_video_pixel_data
from .syntaxes import VIDEO_SYNTAXES, VideoSyntax, is_video_syntax, video_syntax
from .transcode import (
    EncodedVideo, VideoInfo, copy_video_packets, iter_frames, open_container, probe_video, reencode_video, rewrap_video,
)

__all__ = [
    "VIDEO_SYNTAXES", "EncodedVideo", "VideoBitstream", "VideoInfo", "VideoSyntax", "is_video_syntax",
    "copy_video_packets", "iter_frames", "open_container", "probe_video", "reencode_video", "rewrap_video",
    "video_syntax", "write_video_pixel_data",
]
