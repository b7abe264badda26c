"""The video transfer syntaxes (PS3.5 8.2.5-8.2.10, PS3.6 Table A-1) as data.

Each row says which codec family a syntax carries, how a cleaned clip is
re-encoded in kind (encoder, profile, level and the level's rate limits),
and the PS3.3 C.7.6.1.1.5 Lossy Image Compression Method to record.  The
code that decodes, cleans and re-encodes (:mod:`.transcode`) reads this
table and never names a syntax itself.

Fragmentable variants (``….1``, PS3.5 A.4.5) allow the stream to span
fragments; the portal writes one fragment either way, which both accept.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom import uid


@dataclass(frozen=True)
class VideoSyntax:
    """How one video transfer syntax is decoded and re-encoded.

    Attributes
    ----------
    uid : str
        The transfer syntax.
    family : {"mpeg2", "h264", "hevc"}
        The codec family, kept on re-encoding.
    encoder : str
        The FFmpeg encoder (bundled with PyAV) that writes it.
    lossy_method : str
        Defined term of Lossy Image Compression Method (0028,2114).
    options : tuple of (str, str)
        Encoder options that hold the output to the syntax's profile and level.
    bit_depth : int
        8, or 10 for HEVC Main 10.
    reencoded_as : str
        The syntax a cleaned clip is written in: the same one, except stereo
        H.264 (MVC), whose dependent view FFmpeg cannot encode, which becomes
        the 2D syntax of the same level (the base view).
    """

    uid: str
    family: str
    encoder: str
    lossy_method: str
    options: tuple[tuple[str, str], ...]
    bit_depth: int = 8
    reencoded_as: str = ""

    @property
    def output_uid(self) -> str:
        """The transfer syntax of a clip this package re-encoded from this one."""
        return self.reencoded_as or self.uid


# x264 --vbv-maxrate/--vbv-bufsize in kbit/s at High profile (H.264 Table A-1 x 1.25):
# levels 4.1 and 4.2 both allow 62.5 Mbit/s and a 78.125 Mbit CPB.
_H264_L41 = (("profile", "high"), ("level", "4.1"), ("x264-params", "vbv-maxrate=62500:vbv-bufsize=78125"))
_H264_L42 = (("profile", "high"), ("level", "4.2"), ("x264-params", "vbv-maxrate=62500:vbv-bufsize=78125"))
# Blu-ray constraints (GOP, references, HRD) on top of level 4.1: PS3.5 8.2.7 BD-compatible.
_H264_BD = (("profile", "high"), ("level", "4.1"),
            ("x264-params", "vbv-maxrate=40000:vbv-bufsize=30000:bluray-compat=1:nal-hrd=vbr"))
# ISO/IEC 13818-2 Table 8-13: Main Level 15 Mbit/s, VBV 1,835,008 bits; High Level 80 Mbit/s, 9,781,248 bits.
_MPEG2_ML = (("profile", "4"), ("level", "8"), ("maxrate", "15000000"), ("bufsize", "1835008"))
_MPEG2_HL = (("profile", "4"), ("level", "4"), ("maxrate", "80000000"), ("bufsize", "9781248"))
_HEVC_L51 = (("x265-params", "log-level=error:level-idc=51"),)


# Where each family carries free user data (encoder banners, captions, anything a device writes):
# H.264 SEI (NAL type 6), HEVC prefix and suffix SEI (39, 40), MPEG-2 user_data (start code 0xB2).
# FFmpeg's filter_units bitstream filter drops them when a stream is copied without re-encoding.
USER_DATA_FILTERS = {
    "h264": "filter_units=remove_types=6",
    "hevc": "filter_units=remove_types=39|40",
    "mpeg2": "filter_units=remove_types=178",
}


def _row(syntax, family, encoder, method, options, **extra):
    return VideoSyntax(str(syntax), family, encoder, method, options, **extra)


VIDEO_SYNTAXES: dict[str, VideoSyntax] = {row.uid: row for row in (
    _row(uid.MPEG2MPML, "mpeg2", "mpeg2video", "ISO_13818_2", _MPEG2_ML),
    _row(uid.MPEG2MPMLF, "mpeg2", "mpeg2video", "ISO_13818_2", _MPEG2_ML),
    _row(uid.MPEG2MPHL, "mpeg2", "mpeg2video", "ISO_13818_2", _MPEG2_HL),
    _row(uid.MPEG2MPHLF, "mpeg2", "mpeg2video", "ISO_13818_2", _MPEG2_HL),
    _row(uid.MPEG4HP41, "h264", "libx264", "ISO_14496_10", _H264_L41),
    _row(uid.MPEG4HP41F, "h264", "libx264", "ISO_14496_10", _H264_L41),
    _row(uid.MPEG4HP41BD, "h264", "libx264", "ISO_14496_10", _H264_BD),
    _row(uid.MPEG4HP41BDF, "h264", "libx264", "ISO_14496_10", _H264_BD),
    _row(uid.MPEG4HP422D, "h264", "libx264", "ISO_14496_10", _H264_L42),
    _row(uid.MPEG4HP422DF, "h264", "libx264", "ISO_14496_10", _H264_L42),
    _row(uid.MPEG4HP423D, "h264", "libx264", "ISO_14496_10", _H264_L42),
    _row(uid.MPEG4HP423DF, "h264", "libx264", "ISO_14496_10", _H264_L42),
    _row(uid.MPEG4HP42STEREO, "h264", "libx264", "ISO_14496_10", _H264_L42,
         reencoded_as=str(uid.MPEG4HP422D)),
    _row(uid.MPEG4HP42STEREOF, "h264", "libx264", "ISO_14496_10", _H264_L42,
         reencoded_as=str(uid.MPEG4HP422DF)),
    _row(uid.HEVCMP51, "hevc", "libx265", "ISO_23008_2", _HEVC_L51),
    _row(uid.HEVCM10P51, "hevc", "libx265", "ISO_23008_2", _HEVC_L51, bit_depth=10),
)}


def video_syntax(transfer_syntax: str) -> VideoSyntax | None:
    """The table row for ``transfer_syntax``, or None when it is not a video syntax."""
    return VIDEO_SYNTAXES.get(str(transfer_syntax).strip().rstrip("\x00"))


def is_video_syntax(transfer_syntax: str) -> bool:
    """True for MPEG-2, H.264 and HEVC transfer syntaxes (fragmentable or not)."""
    return video_syntax(transfer_syntax) is not None
