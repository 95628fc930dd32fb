// Image sources that name this machine or a private network. An edge fetches a vendor's images
// from its media.allowedSources, so such an entry points the edge at its own loopback or its
// network (server-side request forgery). The edges' networks refuse those addresses as well
// (edge-workers/gen-config.mjs); the origin refuses them at PUT, where the vendor is told.
#pragma once

#include <string_view>

#include "whale/result.h"

namespace whale::origin {

// Why an http(s) URL's host may not be an image source, or "" when it may. The host is read as
// a WHATWG URL parser reads it (the edges' `new URL`): "127.1", "0x7f000001" and "2130706433"
// are IPv4 addresses; bracketed IPv6 addresses are judged by the IPv4 address they embed
// (mapped, compatible, NAT64, 6to4). Refused: localhost and *.localhost, unspecified (0.0.0.0/8,
// ::), loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16, 100.64/10 shared, fc00::/7),
// link-local (169.254/16, fe80::/10, and the old site-local fec0::/10), and hosts a URL parser
// refuses.
std::string_view local_host_reason(std::string_view host);

// invalid_value naming the first media.allowedSources entry of `config` whose host
// local_host_reason refuses, e.g. "media.allowedSources[1]: \"http://127.0.0.1:8790/\" names a
// loopback address ...". `config` is a config the core's parser accepts.
result<void> refuse_local_media_sources(std::string_view config);

}  // namespace whale::origin
