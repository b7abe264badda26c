"""Private attributes known to be safe to keep (Retain Safe Private Option).

A subset of PS3.15 Table E.3.10-1 "Exemplary Safe Private Attributes": the
diffusion parameters the table lists for GE, Siemens and Philips MR.  Entries
are ``(private creator, group, element low byte)``; an element ``(gggg,xxee)``
is safe when the creator that reserved block ``xx`` of group ``gggg`` matches.
No ultrasound vendor attribute is listed here: nothing is kept on a guess.
"""

SAFE_PRIVATE_ATTRIBUTES = frozenset({
    ("GEMS_PARM_01", 0x0043, 0x39),           # slop_int_6..9: diffusion b-value
    ("SIEMENS MR HEADER", 0x0019, 0x0C),      # B_value
    ("SIEMENS MR HEADER", 0x0019, 0x0D),      # DiffusionDirectionality
    ("SIEMENS MR HEADER", 0x0019, 0x0E),      # DiffusionGradientDirection
    ("SIEMENS MR HEADER", 0x0019, 0x27),      # B_matrix
    ("Philips Imaging DD 001", 0x2001, 0x03), # Diffusion B-Factor
})
