"""What several processes share: the rate budget, the 429 pause, webhook fan-out.

``base`` holds the seam (``Coordination``) and the in-process default; ``redis`` the Redis
implementation (the optional ``redis`` extra, imported only when used). A batch's journal on
Redis belongs to the batch package (``phota_async.batch``), which builds on this one.
"""
