class RejectedFile(Exception):
    """One input file was refused; the message is the reason shown to the sender.

    Reasons never quote values from inside the file, so they cannot leak a patient identifier.
    """
