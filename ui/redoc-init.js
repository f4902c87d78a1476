// Redoc over our spec, with the bundle served from this server (no CDN, no web fonts).
"use strict";
Redoc.init("/openapi.json", {}, document.getElementById("redoc-container"));
