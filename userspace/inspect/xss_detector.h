#pragma once

// Tokenizer-based cross-site scripting detector, used as a rule operator
// beside the XSS patterns. It reads the value the way a browser would if
// the application pasted it into a page, in four places:
//   - as text between tags (HTML data state): a tag that runs script or
//     loads a document (<script>, <iframe>, <object>, <embed>, <base>,
//     <style>, <meta http-equiv>, <link rel=import>, ...), or any tag with
//     an on* event handler, a javascript:/vbscript:/data:text/html URL in
//     any attribute, a style attribute with expression(), url(javascript:),
//     -moz-binding or behavior, or an srcdoc holding markup;
//   - inside a double-quoted, a single-quoted and an unquoted attribute
//     value: the value closes the attribute and adds its own (" onmouseover=
//     ..., ' style=..., x onfocus=...);
//   - as a whole URL (href="<value>"): javascript:... with a script body.
// Character references (&#106; &#x6A &colon; &Tab; ...) and the blanks and
// control characters browsers drop inside URL schemes are handled.
// docs/detectors.md has the measured detection and false-positive rates.

#include <string_view>

namespace mamori::inspect {

// Returns true when `input` (an already URL-decoded value) would inject
// script into an HTML page in one of the contexts above. Never fails: any
// byte sequence is accepted. Pure function, no shared state, no heap
// allocation; callable from any thread. Cost is linear in the input length.
bool detectXss(std::string_view input);

}  // namespace mamori::inspect
