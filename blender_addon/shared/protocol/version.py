"""The protocol's name and version: frame 0 carries the major version, the header the full one."""

PROTOCOL_NAME = "VOXD"
PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 6  # 1.1: pong lists the client's live jobs; 1.2: pong says whether the compute thread runs;
# 1.3: info lists the server's models, generate may name one; 1.4: generate from a grid (init + strength),
# regenerate a region, blend two seeds; 1.5: generate joins an object's broken pieces (join_parts); 1.6: info says
# which models take a colour (hue_conditional), generate may ask for one (hue)
PROTOCOL_ID = f"{PROTOCOL_NAME}/{PROTOCOL_MAJOR}".encode()
PROTOCOL_VERSION = f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}"
