"""STAND-IN for the ESL client (helper ``esl`` writes the real one): only the API the
adapter uses, per /work/notes/fs-seam.md. Replaced wholesale when ``esl`` lands."""
