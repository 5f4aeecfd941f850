"""What several processes share: the rate budget, the 429 pause, webhook fan-out, batch journals.

``base`` holds the seam (``Coordination``) and the in-process default; ``redis`` the Redis
implementation (the optional ``redis`` extra, imported only when used).
"""
