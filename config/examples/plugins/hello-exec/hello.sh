#!/bin/sh
# An exec plugin: argv[1] is the plugin action, stdin the payload, SIGLATCH_* the request.
payload=$(cat)
text="${SIGLATCH_PLUGIN_CONFIG} hello ${SIGLATCH_USER}: ${payload}"
if [ "$1" = shout ]; then echo "$text" | tr a-z A-Z; else echo "$text"; fi
