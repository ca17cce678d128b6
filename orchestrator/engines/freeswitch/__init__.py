"""The FreeSWITCH engine: the ESL client (``esl``) and the adapter over it."""
