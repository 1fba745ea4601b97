#include "inspect/inspector.h"

#include "inspect/sqli_detector.h"
#include "inspect/xss_detector.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/bytes16.h"
#include "inspect/compiled.h"
#include "inspect/transform.h"

namespace mamori::inspect {
namespace {

// True when `data` reads as text: no NUL and under 1/8 other control bytes
// (tab, CR, LF aside) in its first 4 KiB. What `file` would call data fails.
bool looksLikeText(std::string_view data) {
  const std::size_t n = std::min<std::size_t>(data.size(), 4096);
  std::size_t control = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    if (c == 0) return false;
    if (c < 0x20 && c != '\t' && c != '\r' && c != '\n') ++control;
  }
  return control * 8 <= n;
}

using detail::Compiled;
using detail::Expression;
using detail::Group;

// --- per-thread Hyperscan scratch and PCRE2 match data --------------------------

// One scratch per thread, grown with hs_alloc_scratch to fit every database
// of every rule set this thread has inspected with (a worker serves several
// sites, each may have its own set). `ready` remembers the generations it
// was sized for, so a set already seen costs a vector lookup.
struct ThreadScratch {
  hs_scratch_t* scratch = nullptr;
  std::vector<std::uint64_t> ready;
  ThreadScratch() = default;
  ThreadScratch(const ThreadScratch&) = delete;
  ThreadScratch& operator=(const ThreadScratch&) = delete;
  ~ThreadScratch() {
    if (scratch) hs_free_scratch(scratch);
  }
};

thread_local ThreadScratch tls_scratch;

// Returns false when Hyperscan could not allocate (out of memory): the
// caller then treats the request as not fully inspected.
bool prepareScratch(const RuleSet& set) {
  std::uint64_t generation = set.generation();
  auto& ready = tls_scratch.ready;
  if (std::find(ready.begin(), ready.end(), generation) != ready.end()) return true;
  for (const hs_database_t* db : set.compiled().databases) {
    if (hs_alloc_scratch(db, &tls_scratch.scratch) != HS_SUCCESS) return false;
  }
  // Bounded: an old generation dropped here just costs a re-check later.
  if (ready.size() >= 16) ready.erase(ready.begin());
  ready.push_back(generation);
  return true;
}

struct ThreadMatchData {
  pcre2_match_data* data = pcre2_match_data_create(16, nullptr);
  ThreadMatchData() = default;
  ThreadMatchData(const ThreadMatchData&) = delete;
  ThreadMatchData& operator=(const ThreadMatchData&) = delete;
  ~ThreadMatchData() {
    if (data) pcre2_match_data_free(data);
  }
};

thread_local ThreadMatchData tls_match_data;

enum class Found { No, Yes, Error };

// Runs regex `index` over `subject`; on Yes, [*start, *end) is the match.
Found pcreFind(const Compiled& compiled, int index, std::string_view subject, size_t* start,
               size_t* end) {
  pcre2_match_data* md = tls_match_data.data;
  if (!md || index < 0) return Found::Error;
  static const char kEmpty[] = "";
  const char* data = subject.empty() ? kEmpty : subject.data();
  int rc = pcre2_match(compiled.regexes[static_cast<size_t>(index)].get(),
                       reinterpret_cast<PCRE2_SPTR>(data), subject.size(), 0, 0, md,
                       compiled.match_context.get());
  if (rc == PCRE2_ERROR_NOMATCH) return Found::No;
  if (rc < 0) return Found::Error;  // match/depth limit, JIT stack: counted by the caller
  PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(md);
  *start = std::min<size_t>(ovector[0], subject.size());
  *end = std::max<size_t>(*start, std::min<size_t>(ovector[1], subject.size()));
  return Found::Yes;
}

// --- views -------------------------------------------------------------------------

struct Value {
  TargetKind kind;
  std::string_view name;
  std::string_view data;
};

const char* bodyErrorText(http::BodyError error) {
  switch (error) {
    case http::BodyError::None: return "none";
    case http::BodyError::Malformed: return "malformed";
    case http::BodyError::TooDeep: return "too_deep";
    case http::BodyError::TooManyFields: return "too_many_fields";
    case http::BodyError::FieldTooLarge: return "field_too_large";
    case http::BodyError::MissingBoundary: return "missing_boundary";
    case http::BodyError::Truncated: return "truncated";
  }
  return "unknown";
}

// True when every byte of `body` is one a form encoder leaves as it is:
// letters, digits, "-_.!~*'()" (the widest set, JavaScript's
// encodeURIComponent; browsers and most libraries escape more), '+' for a
// space, '%' of an escape and the separators '&' and '='. Anything else
// (a space, a quote, '<', '{', a line end, a byte >= 0x80) means the body
// was written by hand, not by a form encoder. 16 bytes a step: it reads
// every byte of every form body.
bool formEncoderCouldWrite(std::string_view body) {
  return !common::anyByte(body, [](auto c) {
    const auto folded = c | 0x20;  // 'A'-'Z' to 'a'-'z'; no other byte lands there
    const auto allowed = ((folded >= 'a') & (folded <= 'z')) | ((c >= '0') & (c <= '9')) |
                         ((c >= '%') & (c <= '+')) | ((c >= '-') & (c <= '.')) | (c == '!') |
                         (c == '=') | (c == '_') | (c == '~');
    return allowed == 0;  // not allowed (lane-wise on a vector)
  });
}

// True when the parsed fields of the request's body hold all of its
// content, so that rules reading the fields need not read the raw bytes
// again (unsplit_body): a form or JSON body parsed without error, except
//  - a JSON prefix (body_over_limit: inspect_prefix). parseBody leaves out
//    of a prefix's fields the string the cut fell in, and the client
//    chooses where the cut falls: {"q":"<script>...", padded past
//    max_body_bytes, has no field q;
//  - a form body with a byte no form encoder leaves unescaped: a JSON or
//    XML document labelled as a form, or a hand-made body. An application
//    that reads its raw body (PHP's php://input, a JSON parser that
//    ignores Content-Type, a handler that takes the body as one string)
//    parses it whole, not split at '=' and '&' as its form fields are, so
//    {"c":"<svg onload=alert(1)>"} would be read only as the name
//    {"c":"<svg onload and the value alert(1)>"};
//  - a request with more than one Content-Type header. The body was parsed
//    by the first, and backends differ on which one they take (or join
//    them), so the application may parse it as another type: a multipart
//    body sent with a form type first and a multipart type second.
bool fieldsHoldAll(const http::Request& r, const http::ParsedBody& body) {
  if (body.error != http::BodyError::None) return false;
  if (body.kind == http::BodyKind::Json) {
    if (body.prefix_only) return false;
  } else if (body.kind != http::BodyKind::UrlEncoded || !formEncoderCouldWrite(r.body)) {
    return false;
  }
  int content_types = 0;
  for (const auto& header : r.headers) {
    if (http::equalsIgnoreCase(header.name, "content-type") && ++content_types > 1) return false;
  }
  return true;
}

// A Hyperscan match: expression id and end offset.
struct Hit {
  std::uint32_t id;
  unsigned long long to;
};

// The working space of one inspection (views, rule flags, hits), kept per
// thread and reused from one request to the next so that steady traffic
// does not allocate it again each time. One inspection at a time uses a
// thread's; `busy` makes a nested one (none exists today) use its own.
struct InspectionBuffers {
  std::string request_line;
  std::vector<Value> values;
  std::array<std::vector<std::uint32_t>, kPrimitiveTargetKindCount> by_kind;
  std::vector<std::uint8_t> active;
  std::vector<std::uint8_t> matched;
  std::vector<std::uint32_t> value_first;
  std::vector<std::uint32_t> may_change;
  std::vector<std::uint32_t> hit_offsets;
  std::vector<Hit> hit_list;
  std::vector<Hit> hits;
  std::vector<std::string_view> texts;
  std::vector<std::uint8_t> pending;
  std::vector<std::uint8_t> sharing;
  std::vector<std::pair<std::uint32_t, Hit>> slot_hits;
  // Inspection::runGroupsAtOnce: per kind, the values with any scan hit.
  std::array<std::vector<std::uint32_t>, kPrimitiveTargetKindCount> hit_values;
  // `active` as computed for this rule set generation and paranoia level
  // with no rule, tag or path exclusions (0: not reusable): the next such
  // request keeps it instead of walking every rule again.
  std::uint64_t active_generation = 0;
  int active_level = 0;
  bool busy = false;
};

thread_local InspectionBuffers tls_inspection;

// The placement both per-thread memos below use: two-way set-associative,
// the set chosen by a multiplicative hash of the whole key, and a value
// replaces the less recently used entry of its set (crafted collisions
// cost a recomputation, nothing else). Direct-mapped on a key's low bits,
// values that met in a slot evicted each other on every request.
template <class Entry, int kSetBits>
struct TwoWayMemo {
  static constexpr size_t kSets = size_t{1} << kSetBits;
  static constexpr size_t kWays = 2;
  static constexpr size_t kEntries = kSets * kWays;
  std::vector<Entry> entries = std::vector<Entry>(kEntries);
  std::vector<std::uint8_t> recent = std::vector<std::uint8_t>(kSets);  // way used last, per set

  // The entry of `key`'s set for which holds(entry) is true, and true; on
  // a miss the set's entry not used last, for the caller to fill, and
  // false. Either way the entry returned becomes the one used last.
  template <class Holds>
  std::pair<Entry*, bool> find(std::uint64_t key, Holds holds) {
    const auto set = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - kSetBits));
    Entry* ways = &entries[set * kWays];
    const size_t way = holds(ways[0]) ? 0 : holds(ways[1]) ? 1 : kWays;
    const size_t use = way < kWays ? way : 1 - recent[set];
    recent[set] = static_cast<std::uint8_t>(use);
    return {&ways[use], way < kWays};
  }
};

// Per-thread memo of whole-value scans (Inspection::scanValue): what a
// short value's scan found, per group slot, keyed by rule set generation,
// paranoia level, target kind and the value's bytes. The result is a
// function of exactly those (transforms and databases are deterministic,
// and generations are never reused), so replaying it is exact. The kind
// and level sit in the key's high bits, which is why the set comes from a
// hash of the whole key: the same bytes under two kinds (the path and its
// decoded form, "country" as a query value and a body name) used to evict
// each other, ten values of the 4 KiB benchmark request among them.
// ~kEntries * kMaxBytes bytes per thread.
struct ScanMemoEntry {
  std::uint64_t generation = 0;  // 0: empty (generations start at 1)
  std::uint64_t key = 0;
  int level = 0;
  TargetKind kind = TargetKind::Path;
  std::string value;
  std::vector<std::uint32_t> offsets;  // per slot, into `hits`; one more at the end
  std::vector<Hit> hits;
};
struct ScanMemo : TwoWayMemo<ScanMemoEntry, 9> {
  static constexpr size_t kMaxBytes = 128;
};

thread_local ScanMemo tls_memo;

// Per-thread memo of the tokenizer detectors' verdicts on short values.
// detectSqli and detectXss are functions of the bytes alone, and the
// values they read repeat from request to request (User-Agent and Referer
// for detect_xss, common argument values): a replay is exact (eight
// values of the 4 KiB benchmark request evicted each other on every
// request when it was direct-mapped); ~kEntries * kMaxBytes bytes per
// thread.
struct DetectorMemoEntry {
  OperatorKind op = OperatorKind::Equals;  // Equals: empty
  bool verdict = false;
  std::string value;
};
struct DetectorMemo : TwoWayMemo<DetectorMemoEntry, 8> {
  static constexpr size_t kMaxBytes = 128;

  // op(data) for op DetectSqli or DetectXss, from the memo when it holds it.
  bool run(OperatorKind op, std::string_view data) {
    auto detect = [&] {
      return op == OperatorKind::DetectSqli ? detectSqli(data) : detectXss(data);
    };
    if (data.size() > kMaxBytes) return detect();
    const std::uint64_t key = std::hash<std::string_view>{}(data) ^ static_cast<std::uint64_t>(op);
    auto [e, hit] =
        find(key, [&](const DetectorMemoEntry& x) { return x.op == op && x.value == data; });
    if (hit) return e->verdict;
    e->verdict = detect();
    e->op = op;
    e->value.assign(data);
    return e->verdict;
  }
};

thread_local DetectorMemo tls_detector_memo;

// Holds this thread's InspectionBuffers (or a private set) for the life
// of one inspection.
class BufferLease {
 public:
  BufferLease()
      : own_(tls_inspection.busy ? std::make_unique<InspectionBuffers>() : nullptr),
        buffers_(own_ ? own_.get() : &tls_inspection) {
    buffers_->busy = true;
  }
  ~BufferLease() { buffers_->busy = false; }
  BufferLease(const BufferLease&) = delete;
  BufferLease& operator=(const BufferLease&) = delete;
  InspectionBuffers& get() { return *buffers_; }

 private:
  std::unique_ptr<InspectionBuffers> own_;
  InspectionBuffers* buffers_;
};

// Every value of the request, by primitive target kind. Views point into
// the Request and ParsedBody, or into the request line built here.
class Views {
 public:
  Views(const http::Request& r, const http::ParsedBody& body, const ConnectionFacts& connection,
        InspectionBuffers& buffers)
      : request_line_(buffers.request_line), values_(buffers.values), by_kind_(buffers.by_kind) {
    values_.clear();
    for (auto& list : by_kind_) list.clear();
    request_line_.clear();
    request_line_.append(r.method_name).append(" ").append(r.target).append(" ");
    request_line_.append(r.version == http::Version::Http10 ? "HTTP/1.0" : "HTTP/1.1");
    add(TargetKind::Method, {}, r.method_name);
    add(TargetKind::RequestLine, {}, request_line_);
    if (!connection.tls_ja3.empty()) add(TargetKind::TlsJa3, {}, connection.tls_ja3);
    if (!connection.tls_ja4.empty()) add(TargetKind::TlsJa4, {}, connection.tls_ja4);
    add(TargetKind::Path, {}, r.path);
    add(TargetKind::DecodedPath, {}, r.decoded_path);
    if (r.has_query || !r.query.empty()) add(TargetKind::RawQuery, {}, r.query);
    for (const auto& arg : r.args) {
      add(TargetKind::QueryArgNames, arg.name, arg.name);
      add(TargetKind::QueryArgValues, arg.name, arg.value);
    }
    for (const auto& header : r.headers) {
      add(TargetKind::HeaderNames, header.name, header.name);
      add(TargetKind::HeaderValues, header.name, header.value);
    }
    for (const auto& cookie : r.cookies) {
      add(TargetKind::CookieNames, cookie.name, cookie.name);
      add(TargetKind::CookieValues, cookie.name, cookie.value);
    }
    for (const auto& field : body.fields) {
      add(TargetKind::BodyNames, field.name, field.name);
      if (field.is_file) {
        add(TargetKind::FileNames, field.name, field.filename);
        // An uploaded file's content is data for the application, not a
        // parameter it interprets: only text-looking content is matched,
        // since signatures in compressed or binary bytes find only noise.
        if (looksLikeText(field.value)) add(TargetKind::BodyValues, field.name, field.value);
      } else {
        add(TargetKind::BodyValues, field.name, field.value);
      }
    }
    // A body declared as binary data is not text to match signatures in.
    if (!r.body.empty() && body.kind != http::BodyKind::Binary) {
      add(TargetKind::RawBody, {}, r.body);
      // A form or JSON body that parsed cleanly is all in its names and
      // values: rules that read the fields need not read its bytes again.
      if (!fieldsHoldAll(r, body)) add(TargetKind::UnsplitBody, {}, r.body);
    }
    if (body.error != http::BodyError::None) {
      add(TargetKind::BodyError, {}, bodyErrorText(body.error));
    }
  }

  const std::vector<Value>& values() const { return values_; }
  const std::vector<std::uint32_t>& ofKind(TargetKind kind) const {
    return by_kind_[static_cast<size_t>(kind)];
  }

 private:
  void add(TargetKind kind, std::string_view name, std::string_view data) {
    by_kind_[static_cast<size_t>(kind)].push_back(static_cast<std::uint32_t>(values_.size()));
    values_.push_back({kind, name, data});
  }

  std::string& request_line_;
  std::vector<Value>& values_;
  std::array<std::vector<std::uint32_t>, kPrimitiveTargetKindCount>& by_kind_;
};

// --- transformed values ----------------------------------------------------------

// The chain trie of `compiled` (compiled.h), built once per rule set.
const detail::ChainTrie& chainTrie(const Compiled& compiled) {
  std::call_once(compiled.trie_once, [&compiled] {
    detail::ChainTrie& trie = compiled.trie;
    trie.nodes.assign(1, {});
    trie.chain_node.reserve(compiled.chains.size());
    for (const TransformChain& chain : compiled.chains) {
      std::uint32_t mask = 0;
      for (Transform t : chain) mask |= 1u << static_cast<unsigned>(t);
      trie.chain_mask.push_back(mask);
      std::uint32_t node = 0;
      for (Transform t : chain) {
        std::uint32_t child = 0;
        for (std::uint32_t n = 1; n < trie.nodes.size(); ++n) {
          if (trie.nodes[n].parent == node && trie.nodes[n].transform == t) {
            child = n;
            break;
          }
        }
        if (child == 0) {
          child = static_cast<std::uint32_t>(trie.nodes.size());
          trie.nodes.push_back({node, t});
        }
        node = child;
      }
      trie.chain_node.push_back(node);
    }
    trie.child.assign(trie.nodes.size() * kTransformCount, 0);
    for (std::uint32_t n = 1; n < trie.nodes.size(); ++n) {
      const auto& node = trie.nodes[n];
      trie.child[node.parent * kTransformCount + static_cast<size_t>(node.transform)] = n;
    }
  });
  return compiled.trie;
}

// Buffers the transform cache reuses from one request to the next on a
// thread, so that a steady stream of requests does not allocate them: the
// strings keep their capacity (a deque, because views into them must stay
// put while more are added). One Inspection at a time per thread uses it;
// `busy` makes a nested use (none exists today) fall back to its own.
// One memo entry of the transform cache.
struct CacheEntry {
  std::string_view data;
  // The trie node whose transform produced these bytes (0: the raw
  // value); differs from the entry's own node when transforms on the way
  // had nothing to do and passed their input through.
  std::uint32_t origin = 0;
  std::int8_t utf8 = -1;  // unknown, 0 or 1
  // value * node count + node: what TransformCache::entry checks a slot
  // against, so that slots left over from earlier requests need no reset.
  size_t key = 0;
};

// TransformCache's memo of transforms applied to bytes that an earlier
// node produced and later transforms passed through: (value, producing
// node, transform) -> the entry that holds the result. An open-addressed
// table that a per-request stamp empties without a fill; when it is full,
// results are just computed again (exact either way).
struct PassThroughMemo {
  static constexpr size_t kSlots = 512;  // a power of two
  static constexpr size_t kMaxUsed = kSlots / 2;
  struct Slot {
    std::uint64_t key = 0;
    std::uint32_t stamp = 0;  // valid when equal to `stamp` below
    std::uint32_t entry = 0;  // index into TransformBuffers::entries
  };
  std::vector<Slot> slots = std::vector<Slot>(kSlots);
  std::uint32_t stamp = 0;
  size_t used = 0;

  // Starts a request: every slot becomes empty.
  void reset() {
    used = 0;
    if (++stamp == 0) {  // wrapped: clear once, then stamps start again
      for (Slot& slot : slots) slot.stamp = 0;
      stamp = 1;
    }
  }
  // The key of transform `t` applied to the bytes trie node `origin`
  // produced for value `value`.
  static std::uint64_t keyOf(std::uint32_t value, std::uint32_t origin, Transform t) {
    return (static_cast<std::uint64_t>(value) << 32) | (static_cast<std::uint64_t>(origin) << 8) |
           static_cast<std::uint64_t>(t);
  }
  // The slot for `key`: a valid one holding it, or an empty one to fill
  // (nullptr when neither is found within a few probes).
  Slot* find(std::uint64_t key) {
    size_t pos = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 40) & (kSlots - 1);
    for (int probe = 0; probe < 8; ++probe, pos = (pos + 1) & (kSlots - 1)) {
      Slot& slot = slots[pos];
      if (slot.stamp != stamp || slot.key == key) return &slot;
    }
    return nullptr;
  }
};

struct TransformBuffers {
  std::deque<std::string> strings;
  size_t used = 0;
  std::vector<std::uint32_t> slots;
  std::vector<std::uint32_t> table;
  std::vector<CacheEntry> entries;
  std::vector<std::uint32_t> canonical;
  std::vector<size_t> hashes;
  std::vector<size_t> long_sizes;  // findDuplicates' working space
  PassThroughMemo pass_through;
  bool busy = false;
};

thread_local TransformBuffers tls_buffers;

// Values whose transforms are kept past a request: one very large body
// must not pin its copies in every worker for the life of the thread.
constexpr size_t kKeepBufferBytes = 64 * 1024;

// The per-request memo of transformed values. A value's result for a trie
// node is computed once, from its parent node's (cached) result; a
// transform with nothing to do yields its input view, no copy. Values with
// identical bytes (a query argument repeated, the path before and after
// decoding when it had no escapes) share their results.
class TransformCache {
 public:
  TransformCache(const Compiled& compiled, const std::vector<Value>& values)
      : trie_(chainTrie(compiled)),
        values_(values),
        own_(tls_buffers.busy ? std::make_unique<TransformBuffers>() : nullptr),
        buffers_(own_ ? own_.get() : &tls_buffers),
        canonical_(buffers_->canonical),
        hashes_(buffers_->hashes),
        entries_(buffers_->entries) {
    buffers_->busy = true;
    buffers_->used = 0;
    buffers_->pass_through.reset();
    entries_.clear();
    node_count_ = trie_.nodes.size();
    canonical_.resize(values.size());
    findDuplicates();
    // No reset of the slots: entry() trusts a slot only when it names an
    // entry of this request with the same key (a sparse set), which saves
    // filling values x nodes words (~1,200 on a typical request) each time.
    if (buffers_->slots.size() < values.size() * node_count_) {
      buffers_->slots.resize(values.size() * node_count_, kEmpty);
    }
  }

  TransformCache(const TransformCache&) = delete;
  TransformCache& operator=(const TransformCache&) = delete;

  ~TransformCache() {
    for (size_t i = 0; i < buffers_->used; ++i) {
      std::string& s = buffers_->strings[i];
      if (s.capacity() > kKeepBufferBytes) std::string().swap(s);
    }
    buffers_->busy = false;
  }

  // Value `index` through chain `chain` (an index into Compiled::chains).
  // The view stays valid for the life of the cache.
  std::string_view get(std::uint32_t index, std::uint32_t chain) {
    return entry(canonical_[index], trie_.chain_node[chain]).data;
  }

  // The untransformed value `index`: the same view get() returns for a
  // chain that leaves it unchanged.
  std::string_view raw(std::uint32_t index) const { return values_[canonical_[index]].data; }

  const detail::ChainTrie& trie() const { return trie_; }

  // A hash of value `index`'s bytes (and length), computed once per
  // request by findDuplicates: for every value up to kHashAlwaysBytes, and
  // for a longer one (up to kShareMaxBytes) when another value has its
  // length; 0 otherwise.
  size_t hash(std::uint32_t index) const { return hashes_[index]; }
  static constexpr size_t kShareMaxBytes = 64 * 1024;
  // Values up to this length are always hashed (the scan memo's key).
  static constexpr size_t kHashAlwaysBytes = 128;

  // isValidUtf8(get(index, chain)), remembered.
  bool validUtf8(std::uint32_t index, std::uint32_t chain) {
    Entry& e = entry(canonical_[index], trie_.chain_node[chain]);
    if (e.utf8 < 0) e.utf8 = isValidUtf8(e.data) ? 1 : 0;
    return e.utf8 == 1;
  }

 private:
  using Entry = CacheEntry;
  static constexpr std::uint32_t kEmpty = UINT32_MAX;

  // Note: entries_ may grow while a caller holds an Entry&, so callers use
  // the reference before computing anything else.
  Entry& entry(std::uint32_t value, std::uint32_t node) {
    const size_t key = static_cast<size_t>(value) * node_count_ + node;
    std::uint32_t& slot = buffers_->slots[key];
    if (slot < entries_.size() && entries_[slot].key == key) return entries_[slot];
    Entry result;
    if (node == 0) {
      result.data = values_[value].data;
    } else {
      const detail::ChainTrie::Node& n = trie_.nodes[node];
      Entry input = entry(value, n.parent);
      // The parent passed bytes of an earlier node through: if the trie has
      // this transform as a child of that node, its result is ours. So
      // [lowercase] and [url_decode_uni, html_entity_decode, lowercase]
      // lowercase the value once when the decodes had nothing to do. The
      // recursion ends: that child is shallower than `node`.
      std::uint32_t same = input.origin != n.parent
                               ? trie_.child[input.origin * kTransformCount +
                                             static_cast<size_t>(n.transform)]
                               : 0;
      // Without such a child, another node may still have applied this
      // transform to the same producer's bytes: [url_decode_uni,
      // remove_whitespace, lowercase] and [url_decode_uni, js_decode,
      // html_entity_decode, remove_whitespace, lowercase] lowercase the
      // same bytes when the decodes had nothing to do. The pass-through
      // memo finds that result, so the bytes are transformed once and the
      // chains get the same view (and can share a merged scan).
      PassThroughMemo::Slot* memo = nullptr;
      if (same == 0 && input.origin != n.parent) {
        const std::uint64_t key = PassThroughMemo::keyOf(value, input.origin, n.transform);
        PassThroughMemo& pass_through = buffers_->pass_through;
        memo = pass_through.find(key);
        if (memo != nullptr && memo->stamp == pass_through.stamp) {
          const Entry& shared = entries_[memo->entry];
          result.data = shared.data;
          result.origin = shared.origin;
          same = UINT32_MAX;  // found: nothing to compute or record
          memo = nullptr;
        } else if (memo != nullptr && pass_through.used < PassThroughMemo::kMaxUsed) {
          ++pass_through.used;
          memo->key = key;
        } else {
          memo = nullptr;  // full: compute without recording
        }
      }
      const Entry* swapped = nullptr;
      if (same == UINT32_MAX) {
        // taken from the pass-through memo above
      } else if (same != 0) {
        const Entry& shared = entry(value, same);
        result.data = shared.data;
        result.origin = shared.origin;
      } else if ((swapped = commuted(value, input, n.transform)) != nullptr) {
        result.data = swapped->data;
        result.origin = swapped->origin;
      } else {
        std::string& out = nextBuffer();
        if (transformInto(n.transform, input.data, out)) {
          result.data = out;
          result.origin = node;
        } else {
          --buffers_->used;  // not needed: give it back
          result = input;
        }
      }
      if (memo != nullptr) {
        // This node's entry is pushed below at index entries_.size().
        memo->stamp = buffers_->pass_through.stamp;
        memo->entry = static_cast<std::uint32_t>(entries_.size());
      }
      result.utf8 = -1;
    }
    // `slot` is still valid: the slots vector is never resized here.
    result.key = key;
    slot = static_cast<std::uint32_t>(entries_.size());
    entries_.push_back(result);
    return entries_.back();
  }

  // The entry of trie node `node` for `value` when this request has
  // computed it; nullptr otherwise (nothing is computed here).
  const Entry* computed(std::uint32_t value, std::uint32_t node) const {
    const size_t key = static_cast<size_t>(value) * node_count_ + node;
    const std::uint32_t slot = buffers_->slots[key];
    return slot < entries_.size() && entries_[slot].key == key ? &entries_[slot] : nullptr;
  }

  // The result of `t` on the bytes trie node `origin` produced for `value`
  // (origin 0: the raw value), when this request has computed it, as the
  // trie child of `origin` or through the pass-through memo; nullptr
  // otherwise.
  const Entry* applied(std::uint32_t value, std::uint32_t origin, Transform t) {
    const std::uint32_t child = trie_.child[origin * kTransformCount + static_cast<size_t>(t)];
    if (child != 0) return computed(value, child);
    PassThroughMemo& pass_through = buffers_->pass_through;
    const PassThroughMemo::Slot* slot = pass_through.find(PassThroughMemo::keyOf(value, origin, t));
    return slot != nullptr && slot->stamp == pass_through.stamp ? &entries_[slot->entry] : nullptr;
  }

  // Transforms that give the same bytes in either order: lowercase maps
  // A-Z only and the whitespace transforms read and write only whitespace
  // bytes (\t-\r, space), which lowercase leaves alone.
  static bool commute(Transform a, Transform b) {
    auto whitespace = [](Transform t) {
      return t == Transform::RemoveWhitespace || t == Transform::CompressWhitespace;
    };
    return (a == Transform::Lowercase && whitespace(b)) ||
           (b == Transform::Lowercase && whitespace(a));
  }

  // `t` applied to `input` (value `value`), found without computing it when
  // input's bytes are u(y) for a transform u that commutes with t and this
  // request already has u(t(y)): [lowercase, remove_whitespace] is then the
  // [remove_whitespace, lowercase] another chain produced. nullptr otherwise.
  const Entry* commuted(std::uint32_t value, const Entry& input, Transform t) {
    if (input.origin == 0) return nullptr;
    const detail::ChainTrie::Node& producer = trie_.nodes[input.origin];
    if (!commute(t, producer.transform)) return nullptr;
    const Entry* y = computed(value, producer.parent);  // what `producer` read
    if (y == nullptr) return nullptr;
    const Entry* first = applied(value, y->origin, t);  // t(y)
    if (first == nullptr) return nullptr;
    return applied(value, first->origin, producer.transform);  // u(t(y))
  }

  std::string& nextBuffer() {
    if (buffers_->used == buffers_->strings.size()) buffers_->strings.emplace_back();
    return buffers_->strings[buffers_->used++];
  }

  // canonical_[i]: the first value with the same bytes as value i. An
  // open-addressed table of (size, hash); a probe compares bytes with at
  // most a few candidates, so crafted hash collisions cost no more than
  // a missed share.
  void findDuplicates() {
    size_t n = values_.size();
    size_t capacity = 16;
    while (capacity < 2 * n) capacity *= 2;
    std::vector<std::uint32_t>& table = buffers_->table;
    table.assign(capacity, kEmpty);
    hashes_.resize(n);
    // Values longer than kHashAlwaysBytes (a form's free-text field, the
    // raw body) are hashed only when another value has the same length:
    // otherwise nothing can equal them, and nothing else reads their hash.
    // (Hashing the 4 KiB benchmark request's two 3.3 KB values was ~2 us.)
    std::vector<size_t>& long_sizes = buffers_->long_sizes;
    long_sizes.clear();
    for (size_t i = 0; i < n; ++i) {
      if (values_[i].data.size() > kHashAlwaysBytes) long_sizes.push_back(values_[i].data.size());
    }
    std::sort(long_sizes.begin(), long_sizes.end());
    auto sizeShared = [&long_sizes](size_t size) {
      auto range = std::equal_range(long_sizes.begin(), long_sizes.end(), size);
      return range.second - range.first >= 2;
    };
    std::hash<std::string_view> hasher;
    for (size_t i = 0; i < n; ++i) {
      std::string_view data = values_[i].data;
      canonical_[i] = static_cast<std::uint32_t>(i);
      // Hashing is work the byte budget does not see: very large values
      // (a big raw body) are left unshared instead.
      if (data.size() > kShareMaxBytes) continue;
      if (data.size() > kHashAlwaysBytes && !sizeShared(data.size())) {
        hashes_[i] = 0;
        continue;
      }
      size_t h = hasher(data) ^ (data.size() * 0x9E3779B97F4A7C15ull);
      hashes_[i] = h;
      size_t pos = h & (capacity - 1);
      int compared = 0;
      while (table[pos] != kEmpty) {
        std::uint32_t other = table[pos];
        if (hashes_[other] == h && compared++ < 4 && values_[other].data == data) {
          canonical_[i] = other;
          break;
        }
        pos = (pos + 1) & (capacity - 1);
      }
      if (canonical_[i] == i) table[pos] = static_cast<std::uint32_t>(i);
    }
  }

  const detail::ChainTrie& trie_;
  const std::vector<Value>& values_;
  std::unique_ptr<TransformBuffers> own_;
  TransformBuffers* buffers_ = nullptr;
  std::vector<std::uint32_t>& canonical_;
  std::vector<size_t>& hashes_;
  std::vector<Entry>& entries_;
  size_t node_count_ = 0;
};

// --- helpers -----------------------------------------------------------------------

bool equalsCaseless(std::string_view a, std::string_view b) { return http::equalsIgnoreCase(a, b); }

unsigned char lowerByte(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return (u >= 'A' && u <= 'Z') ? static_cast<unsigned char>(u + 32) : u;
}

// Position of `needle` in `hay` from `from`, ASCII case-insensitive when asked.
size_t findText(std::string_view hay, std::string_view needle, bool caseless, size_t from = 0) {
  if (!caseless) return hay.find(needle, from);
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = from; i + needle.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle.size() && lowerByte(hay[i + k]) == lowerByte(needle[k])) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

bool isWordByte(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_';
}

// Where `phrase` matches in `value` under `mode`; npos when it does not.
size_t findPhrase(std::string_view value, std::string_view phrase, PhraseMatch mode,
                  bool caseless) {
  if (mode == PhraseMatch::Whole) {
    return value.size() == phrase.size() && findText(value, phrase, caseless) == 0
               ? 0
               : std::string_view::npos;
  }
  for (size_t pos = findText(value, phrase, caseless); pos != std::string_view::npos;
       pos = findText(value, phrase, caseless, pos + 1)) {
    if (mode == PhraseMatch::Substring) return pos;
    bool left = pos == 0 || !isWordByte(value[pos - 1]);
    size_t after = pos + phrase.size();
    bool right = after == value.size() || !isWordByte(value[after]);
    if (left && right) return pos;
  }
  return std::string_view::npos;
}

bool compareNumber(std::int64_t lhs, Compare cmp, std::int64_t rhs) {
  switch (cmp) {
    case Compare::Gt: return lhs > rhs;
    case Compare::Ge: return lhs >= rhs;
    case Compare::Lt: return lhs < rhs;
    case Compare::Le: return lhs <= rhs;
    case Compare::Eq: return lhs == rhs;
    case Compare::Ne: return lhs != rhs;
  }
  return false;
}

std::optional<std::int64_t> parseInteger(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

bool primitiveOf(TargetKind target, TargetKind primitive) {
  if (target == primitive) return true;
  if (target == TargetKind::ArgNames) {
    return primitive == TargetKind::QueryArgNames || primitive == TargetKind::BodyNames;
  }
  if (target == TargetKind::ArgValues) {
    return primitive == TargetKind::QueryArgValues || primitive == TargetKind::BodyValues;
  }
  return false;
}

// --- one inspection ---------------------------------------------------------------

class Inspection {
 public:
  Inspection(const RuleSet& set, const http::Request& request, const http::ParsedBody& body,
             const InspectOptions& options, const ConnectionFacts& connection)
      : set_(set),
        compiled_(set.compiled()),
        rules_(set.rules()),
        options_(options),
        buffers_(lease_.get()),
        views_(request, body, connection, buffers_),
        level_(std::clamp(options.paranoia_level, 1, 4)),
        active_(buffers_.active),
        matched_(buffers_.matched),
        cache_(compiled_, views_.values()),
        hits_(buffers_.hits),
        value_first_(buffers_.value_first),
        may_change_(buffers_.may_change),
        hit_offsets_(buffers_.hit_offsets),
        hit_list_(buffers_.hit_list),
        texts_(buffers_.texts),
        pending_(buffers_.pending),
        sharing_(buffers_.sharing),
        slot_hits_(buffers_.slot_hits) {
    matched_.assign(rules_.size(), 0);
    may_change_.assign(views_.values().size(), 0);
    // Path exclusions compare against the decoded, dot-resolved path: with
    // the raw path, "/excluded/../login" would carry an exclusion meant for
    // /excluded to whatever the upstream resolves it to.
    if (!options_.exclusions.paths.empty()) {
      exclusion_path_ = applyTransform(Transform::NormalizePath, request.decoded_path);
    }
    if (options_.budget_time.count() > 0) {
      deadline_ = now() + options_.budget_time;
      timed_ = true;
    }
    const Exclusions& ex = options_.exclusions;
    const bool plain = ex.rule_ids.empty() && ex.tags.empty() && ex.paths.empty();
    if (!plain || buffers_.active_generation != set_.generation() ||
        buffers_.active_level != level_ || active_.size() != rules_.size()) {
      active_.resize(rules_.size());
      for (size_t i = 0; i < rules_.size(); ++i) {
        active_[i] = ruleActive(rules_[i], compiled_.info[i]);
      }
      buffers_.active_generation = plain ? set_.generation() : 0;
      buffers_.active_level = level_;
    }
  }

  InspectResult run() {
    runDirect();
    runGroups();
    result_.score = 0;
    for (const auto& d : result_.detections) result_.score += d.score;
    bool over = result_.score > 0 && result_.score >= options_.anomaly_threshold;
    if (result_.budget_exhausted) {
      result_.budget_action = options_.on_budget_exhausted;
      if (options_.on_budget_exhausted == BudgetAction::Block) over = true;
    }
    result_.would_block = over;
    result_.block = over && !options_.detection_only;
    return std::move(result_);
  }

 private:
  std::chrono::steady_clock::time_point now() const {
    return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
  }

  bool ruleActive(const Rule& rule, const detail::RuleInfo& info) const {
    if (!info.compiled || rule.paranoia > level_) return false;
    const Exclusions& ex = options_.exclusions;
    if (std::find(ex.rule_ids.begin(), ex.rule_ids.end(), rule.id) != ex.rule_ids.end()) {
      return false;
    }
    for (const auto& tag : ex.tags) {
      if (std::find(rule.tags.begin(), rule.tags.end(), tag) != rule.tags.end()) return false;
    }
    for (const auto& p : ex.paths) {
      if ((p.rule_id == 0 || p.rule_id == rule.id) &&
          exclusion_path_.compare(0, p.path_prefix.size(), p.path_prefix) == 0) {
        return false;
      }
    }
    return true;
  }

  // Whether rule `r` looks at value `v`: one of its targets covers v's
  // kind and name, and no per-site target exclusion removes it.
  bool applies(std::uint32_t r, const Value& v) const {
    const Rule& rule = rules_[r];
    bool covered = false;
    for (const auto& t : rule.targets) {
      if (!primitiveOf(t.kind, v.kind)) continue;
      bool named = t.names.empty();
      for (const auto& n : t.names) named = named || equalsCaseless(n, v.name);
      if (!named) continue;
      bool excepted = false;
      for (const auto& n : t.except) excepted = excepted || equalsCaseless(n, v.name);
      if (excepted) continue;
      covered = true;
      break;
    }
    if (!covered) return false;
    for (const auto& te : options_.exclusions.targets) {
      if ((te.rule_id == 0 || te.rule_id == rule.id) && !v.name.empty() &&
          equalsCaseless(te.name, v.name)) {
        return false;
      }
    }
    return true;
  }

  // Charges `bytes` against the budget before they are looked at; false
  // (and budget_exhausted set) when they do not fit or time is up.
  bool charge(size_t bytes) {
    if (result_.budget_exhausted) return false;
    if (options_.budget_bytes && result_.bytes_scanned + bytes > options_.budget_bytes) {
      result_.budget_exhausted = true;
      return false;
    }
    if (timed_ && (++checks_ & 15) == 0 && now() > deadline_) {
      result_.budget_exhausted = true;
      return false;
    }
    result_.bytes_scanned += bytes;
    return true;
  }

  // The value `index` through chain `chain`, computed once per request
  // (and shared with every chain that has the same prefix).
  // A value no transform of the chain can change (transformsThatMayChange,
  // one pass over its bytes, remembered per value) is its own result: no
  // trie walk. Most short values (tokens, header values, names) are.
  std::string_view transformed(std::uint32_t index, std::uint32_t chain) {
    const Value& v = views_.values()[index];
    if (v.data.size() <= kMaskMaxBytes) {
      std::uint32_t& may = may_change_[index];
      if (may == 0) may = transformsThatMayChange(v.data);  // never 0 once computed
      if ((may & cache_.trie().chain_mask[chain]) == 0) return cache_.raw(index);
    }
    return cache_.get(index, chain);
  }

  void detect(std::uint32_t r, const Value& v, std::string_view data, size_t start, size_t end) {
    matched_[r] = 1;
    const Rule& rule = rules_[r];
    Detection d;
    d.rule_id = rule.id;
    d.message = rule.message;
    d.category = rule.category;
    d.severity = rule.severity;
    d.score = rule.score;
    d.target = v.kind;
    d.target_name = std::string(v.name);
    d.transforms = rule.transforms;
    if (isSensitiveName(v.name)) {
      d.fragment = "[masked]";
      d.masked = true;
    } else {
      start = std::min(start, data.size());
      end = std::clamp(end, start, data.size());
      d.fragment = std::string(data.substr(start, std::min(end - start, kMaxFragmentBytes)));
    }
    result_.detections.push_back(std::move(d));
  }

  // --- direct operators ---

  void runDirect() {
    for (std::uint32_t r : compiled_.direct) {
      if (!active_[r] || matched_[r]) continue;
      const Rule& rule = rules_[r];
      const detail::RuleInfo& info = compiled_.info[r];
      if (rule.op.kind == OperatorKind::Numeric && rule.op.numeric_of == NumericOf::Count) {
        runCount(r);
        continue;
      }
      for (size_t k = 0; k < kPrimitiveTargetKindCount && !matched_[r]; ++k) {
        if (!info.kinds[k]) continue;
        for (std::uint32_t index : views_.ofKind(static_cast<TargetKind>(k))) {
          const Value& v = views_.values()[index];
          if (!applies(r, v)) continue;
          if (!charge(v.data.size())) return;
          std::string_view data = transformed(index, info.chain);
          size_t start = 0;
          size_t end = data.size();
          bool hit = evaluate(r, data, &start, &end);
          if (rule.op.negate) {
            hit = !hit;
            start = 0;
            end = data.size();
          }
          if (hit) {
            detect(r, v, data, start, end);
            break;
          }
        }
      }
      if (result_.budget_exhausted) return;
    }
  }

  // ModSecurity's &ARGS: the number of values the rule's targets yield.
  void runCount(std::uint32_t r) {
    const Rule& rule = rules_[r];
    const detail::RuleInfo& info = compiled_.info[r];
    std::int64_t count = 0;
    const Value* first = nullptr;
    for (size_t k = 0; k < kPrimitiveTargetKindCount; ++k) {
      if (!info.kinds[k]) continue;
      for (std::uint32_t index : views_.ofKind(static_cast<TargetKind>(k))) {
        const Value& v = views_.values()[index];
        if (!applies(r, v)) continue;
        if (!first) first = &v;
        ++count;
      }
    }
    bool hit = compareNumber(count, rule.op.compare, rule.op.number) != rule.op.negate;
    if (!hit) return;
    std::string text = std::to_string(count);
    // The detection names the kind counted, not any one value of it.
    TargetKind kind = first ? first->kind : TargetKind::Path;
    if (!first) {
      for (size_t k = 0; k < kPrimitiveTargetKindCount; ++k) {
        if (info.kinds[k]) {
          kind = static_cast<TargetKind>(k);
          break;
        }
      }
    }
    Value v{kind, {}, text};
    detect(r, v, text, 0, text.size());
  }

  bool evaluate(std::uint32_t r, std::string_view data, size_t* start, size_t* end) {
    const Operator& op = rules_[r].op;
    switch (op.kind) {
      case OperatorKind::Equals:
        return op.caseless ? equalsCaseless(data, op.text) : data == op.text;
      case OperatorKind::Prefix:
        if (data.size() < op.text.size()) return false;
        *end = op.text.size();
        return op.caseless ? equalsCaseless(data.substr(0, op.text.size()), op.text)
                           : data.substr(0, op.text.size()) == op.text;
      case OperatorKind::Suffix:
        if (data.size() < op.text.size()) return false;
        *start = data.size() - op.text.size();
        return op.caseless ? equalsCaseless(data.substr(*start), op.text)
                           : data.substr(*start) == op.text;
      case OperatorKind::Contains: {
        size_t pos = findText(data, op.text, op.caseless);
        if (pos == std::string_view::npos) return false;
        *start = pos;
        *end = pos + op.text.size();
        return true;
      }
      case OperatorKind::Numeric: {
        if (op.numeric_of == NumericOf::Length) {
          return compareNumber(static_cast<std::int64_t>(data.size()), op.compare, op.number);
        }
        auto number = parseInteger(data);
        return number && compareNumber(*number, op.compare, op.number);
      }
      case OperatorKind::ByteRange: {
        // One table lookup per byte instead of a walk over the spans:
        // these rules (920270 and kin) read whole bodies. The table is
        // built at compile time (Compiled::byte_tables).
        const std::array<bool, 256>& allowed =
            compiled_.byte_tables[static_cast<size_t>(compiled_.info[r].byte_table)];
        // Eight lookups per branch while every byte is allowed (on the
        // 4 KiB request, rules 230003 and 100001 read both 3.3 KB values);
        // the block with the first disallowed byte is searched below.
        const auto* bytes = reinterpret_cast<const std::uint8_t*>(data.data());
        size_t i = 0;
        for (; i + 8 <= data.size(); i += 8) {
          const bool all = allowed[bytes[i]] & allowed[bytes[i + 1]] & allowed[bytes[i + 2]] &
                           allowed[bytes[i + 3]] & allowed[bytes[i + 4]] &
                           allowed[bytes[i + 5]] & allowed[bytes[i + 6]] & allowed[bytes[i + 7]];
          if (!all) break;
        }
        for (; i < data.size(); ++i) {
          if (!allowed[bytes[i]]) {
            *start = i;
            *end = i + 1;
            return true;
          }
        }
        return false;
      }
      case OperatorKind::Phrases:
        for (const auto& phrase : op.phrases) {
          size_t pos = findPhrase(data, phrase, op.phrase_match, op.caseless);
          if (pos != std::string_view::npos) {
            *start = pos;
            *end = pos + phrase.size();
            return true;
          }
        }
        return false;
      case OperatorKind::Pattern: {
        Found found = find(compiled_.info[r].regex, data, start, end);
        if (found == Found::Error) ++result_.regex_errors;
        return found == Found::Yes;
      }
      // The tokenizers judge the whole value; the fragment is the value.
      case OperatorKind::DetectSqli:
      case OperatorKind::DetectXss:
        return tls_detector_memo.run(op.kind, data);
    }
    return false;
  }

  Found find(int regex, std::string_view data, size_t* start, size_t* end) {
    ++result_.regex_runs;
    return pcreFind(compiled_, regex, data, start, end);
  }

  // --- Hyperscan groups ---

  static int onMatch(unsigned int id, unsigned long long /*from*/, unsigned long long to,
                     unsigned int /*flags*/, void* context) {
    static_cast<std::vector<Hit>*>(context)->push_back({id, to});
    return 0;
  }

  void runGroups() {
    if (result_.budget_exhausted) return;
    bool scratch_ok = prepareScratch(set_);
    value_first_.assign(views_.values().size(), kNotScanned);
    hit_offsets_.clear();
    hit_list_.clear();
    if (scratch_ok && !timed_ && runGroupsAtOnce()) return;
    // Each pass scans the values of one kind with one chain's databases,
    // which also hold the expressions of rules reading other kinds through
    // that chain; handleHit and runPcre drop those (applies() checks the
    // kind), so a hit counts only on a value its rule targets.
    for (const detail::Pass& pass : compiled_.passes) {
      const Group& g = compiled_.groups[pass.group];
      const hs_database_t* db = g.by_paranoia[static_cast<size_t>(level_ - 1)];
      const hs_database_t* utf8_db = g.utf8_by_paranoia[static_cast<size_t>(level_ - 1)];
      if (!db && !utf8_db && g.pcre_only.empty()) continue;
      if ((db || utf8_db) && !scratch_ok) {
        // Without scratch nothing can be scanned: the request was not fully
        // inspected, and the site's budget choice decides, as for a spent budget.
        result_.budget_exhausted = true;
        return;
      }
      const size_t kind_groups = compiled_.kind_slots[static_cast<size_t>(pass.kind)].size();
      for (std::uint32_t index : views_.ofKind(pass.kind)) {
        const Value& v = views_.values()[index];
        if (!charge(v.data.size())) return;
        LazyText text(*this, index, g.chain);
        if (db) {
          std::uint32_t& first = value_first_[index];
          if (first == kNotScanned) {
            // The value's other passes will charge it kind_groups - 1 more
            // times; scanning it for all of them now must fit the budget
            // too, or it is scanned pass by pass as the budget allows.
            bool fits = options_.budget_bytes == 0 ||
                        result_.bytes_scanned + v.data.size() * (kind_groups - 1) <=
                            options_.budget_bytes;
            first = fits ? scanValue(index, pass.kind) : kScanPerPass;
            if (result_.budget_exhausted) return;
          }
          if (first == kScanPerPass) {
            if (!scan(g, db, index, text())) return;
          } else {
            for (std::uint32_t h = hit_offsets_[first + pass.slot];
                 h < hit_offsets_[first + pass.slot + 1]; ++h) {
              handleHit(g, hit_list_[h], index, text());
            }
          }
        }
        if (!matchBesidesHits(g, utf8_db, v, text)) return;
      }
    }
  }

  // Value `index` through `chain`, transformed on first use only: most
  // values of most passes have no hit to confirm.
  class LazyText {
   public:
    LazyText(Inspection& inspection, std::uint32_t index, std::uint32_t chain)
        : inspection_(inspection), index_(index), chain_(chain) {}
    std::uint32_t index() const { return index_; }
    std::uint32_t chain() const { return chain_; }
    std::string_view operator()() {
      if (!have_) {
        data_ = inspection_.transformed(index_, chain_);
        have_ = true;
      }
      return data_;
    }

   private:
    Inspection& inspection_;
    std::uint32_t index_;
    std::uint32_t chain_;
    std::string_view data_;
    bool have_ = false;
  };

  // What a pass matches on a value besides its main database's hits: the
  // UTF-8 database (PCRE2 when the text is not valid UTF-8) and the
  // PCRE2-only expressions. False when a scan failed (stop inspecting).
  bool matchBesidesHits(const Group& g, const hs_database_t* utf8_db, const Value& v,
                        LazyText& text) {
    if (utf8_db) {
      if (cache_.validUtf8(text.index(), text.chain())) {
        if (!scan(g, utf8_db, text.index(), text())) return false;
      } else {
        runPcre(g.utf8_ids, g, v, text());
      }
    }
    if (!g.pcre_only.empty()) runPcre(g.pcre_only, g, v, text());
    return true;
  }

  // runGroups for the common case where the byte budget cannot run out
  // and no time budget is set; false (nothing done) otherwise. Same
  // detections, in the same order, and the same bytes_scanned as the pass
  // loop below, with less bookkeeping: the loop visits every value of
  // every pass (~400 visits on an ordinary request, ~170 passes) to charge
  // it and look up its hits, though most values have no hit at all. Here
  // the whole charge is added at once, every value is scanned up front
  // (scanValue: the result does not depend on which pass asks first), and
  // a pass that has only Hyperscan databases visits just the values with
  // a hit. Passes with a UTF-8 database or PCRE2-only expressions still
  // visit every value, as before.
  bool runGroupsAtOnce() {
    const size_t level = static_cast<size_t>(level_ - 1);
    std::array<size_t, kPrimitiveTargetKindCount> kind_bytes{};
    for (const Value& v : views_.values()) kind_bytes[static_cast<size_t>(v.kind)] += v.data.size();
    // What the pass loop would charge, and (bounding its scanValue budget
    // check from above) what scanning each value for all its kind's
    // groups could add.
    size_t total = 0;
    size_t bound = 0;
    std::array<bool, kPrimitiveTargetKindCount> scanned{};
    for (const detail::Pass& pass : compiled_.passes) {
      const Group& g = compiled_.groups[pass.group];
      if (!g.by_paranoia[level] && !g.utf8_by_paranoia[level] && g.pcre_only.empty()) continue;
      const auto k = static_cast<size_t>(pass.kind);
      total += kind_bytes[k];
      if (g.by_paranoia[level] && !scanned[k]) {
        scanned[k] = true;
        bound += kind_bytes[k] * compiled_.kind_slots[k].size();
      }
    }
    if (options_.budget_bytes != 0 &&
        result_.bytes_scanned + total + bound > options_.budget_bytes) {
      return false;
    }
    result_.bytes_scanned += total;
    for (size_t k = 0; k < kPrimitiveTargetKindCount; ++k) {
      std::vector<std::uint32_t>& with_hits = buffers_.hit_values[k];
      with_hits.clear();
      if (!scanned[k]) continue;
      const size_t n = compiled_.kind_slots[k].size();
      for (std::uint32_t index : views_.ofKind(static_cast<TargetKind>(k))) {
        const std::uint32_t first = scanValue(index, static_cast<TargetKind>(k));
        if (result_.budget_exhausted) return true;
        value_first_[index] = first;
        if (hit_offsets_[first] != hit_offsets_[first + n]) with_hits.push_back(index);
      }
    }
    for (const detail::Pass& pass : compiled_.passes) {
      const Group& g = compiled_.groups[pass.group];
      const hs_database_t* db = g.by_paranoia[level];
      const hs_database_t* utf8_db = g.utf8_by_paranoia[level];
      if (!db && !utf8_db && g.pcre_only.empty()) continue;
      const bool every_value = utf8_db || !g.pcre_only.empty();
      const auto& indexes = every_value ? views_.ofKind(pass.kind)
                                        : buffers_.hit_values[static_cast<size_t>(pass.kind)];
      for (std::uint32_t index : indexes) {
        const Value& v = views_.values()[index];
        LazyText text(*this, index, g.chain);
        if (db) {
          const std::uint32_t first = value_first_[index];
          for (std::uint32_t h = hit_offsets_[first + pass.slot];
               h < hit_offsets_[first + pass.slot + 1]; ++h) {
            handleHit(g, hit_list_[h], index, text());
          }
        }
        if (!matchBesidesHits(g, utf8_db, v, text)) return true;
      }
    }
    return true;
  }

  // One Hyperscan scan of `data` (value `index`) against `db`; false (and
  // the request marked not fully inspected) when Hyperscan fails.
  bool scan(const Group& g, const hs_database_t* db, std::uint32_t index, std::string_view data) {
    hits_.clear();
    // Values are bounded far below 4 GiB by the HTTP limits; clamp anyway.
    auto length = static_cast<unsigned int>(std::min<size_t>(data.size(), UINT_MAX));
    hs_error_t rc = hs_scan(db, data.empty() ? "" : data.data(), length, 0, tls_scratch.scratch,
                            &Inspection::onMatch, &hits_);
    if (rc != HS_SUCCESS) {
      result_.budget_exhausted = true;
      return false;
    }
    sortHits(hits_);
    for (const Hit& hit : hits_) handleHit(g, hit, index, data);
    return true;
  }

  // Scans value `index` (of kind `kind`) for every group of that kind at
  // once and files the hits per group (see value_first_). Groups of one
  // merge (compiled.h, Merge) whose transformed values are the same view
  // share one scan of the merge's database; the hits of each group are
  // those of its own expressions, which are exactly the hits its own
  // database gives on those bytes. Every other group scans its own
  // database. Returns the value's index into hit_offsets_; sets
  // budget_exhausted when Hyperscan fails.
  std::uint32_t scanValue(std::uint32_t index, TargetKind kind) {
    const auto& slots = compiled_.kind_slots[static_cast<size_t>(kind)];
    const auto& slot_of_group = compiled_.slot_of_group[static_cast<size_t>(kind)];
    const size_t n = slots.size();
    const size_t level = static_cast<size_t>(level_ - 1);
    // Short values recur from request to request (header names, most header
    // values, method, common cookies): their scan results are remembered.
    const std::string_view bytes = views_.values()[index].data;
    ScanMemoEntry* memo = nullptr;
    std::uint64_t key = 0;
    static_assert(ScanMemo::kMaxBytes <= TransformCache::kHashAlwaysBytes,
                  "the memo key reuses the transform cache's hash of the value");
    if (bytes.size() <= ScanMemo::kMaxBytes) {
      key = cache_.hash(index) ^ (static_cast<std::uint64_t>(kind) << 56) ^
            (static_cast<std::uint64_t>(level_) << 48) ^
            (set_.generation() * 0x9E3779B97F4A7C15ull);
      // On a miss the entry to fill with this scan's result.
      const auto [entry, hit] = tls_memo.find(key, [&](const ScanMemoEntry& e) {
        return e.generation == set_.generation() && e.key == key && e.level == level_ &&
               e.kind == kind && e.value == bytes;
      });
      memo = entry;
      if (hit) {
        // Most values of most requests come through here: one resize and a
        // plain loop, not a push_back (and its capacity check) per slot.
        const size_t first = hit_offsets_.size();
        const auto base = static_cast<std::uint32_t>(hit_list_.size());
        const size_t count = memo->offsets.size();
        hit_offsets_.resize(first + count);
        std::uint32_t* out = hit_offsets_.data() + first;
        const std::uint32_t* in = memo->offsets.data();
        for (size_t s = 0; s < count; ++s) out[s] = base + in[s];
        if (!memo->hits.empty()) {
          hit_list_.insert(hit_list_.end(), memo->hits.begin(), memo->hits.end());
        }
        return static_cast<std::uint32_t>(first);
      }
    }
    texts_.resize(n);
    pending_.assign(n, 0);
    sharing_.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      if (!slots[i].db[level]) continue;
      texts_[i] = transformed(index, slots[i].chain);
      pending_[i] = 1;
    }
    slot_hits_.clear();
    for (size_t i = 0; i < n; ++i) {
      if (!pending_[i]) continue;
      const auto& slot = slots[i];
      const std::string_view text = texts_[i];
      const hs_database_t* merged = slot.merged[level];
      size_t sharing = 1;
      if (merged) {
        sharing_[i] = 1;
        for (std::uint32_t j = slot.next_in_merge; j < n; j = slots[j].next_in_merge) {
          if (pending_[j] && texts_[j].data() == text.data() && texts_[j].size() == text.size()) {
            sharing_[j] = 1;
            ++sharing;
          }
        }
      }
      if (sharing >= 2) {
        if (!hsScan(merged, text)) return 0;
        const detail::Merge& merge = compiled_.merges[static_cast<size_t>(slot.merge)];
        for (const Hit& hit : hits_) {
          if (hit.id >= merge.ids.size()) continue;
          const auto& [gi, id] = merge.ids[hit.id];
          std::uint32_t s = slot_of_group[gi];
          if (s != kNoSlot && sharing_[s]) slot_hits_.push_back({s, Hit{id, hit.to}});
        }
        for (std::uint32_t j = static_cast<std::uint32_t>(i); j < n; j = slots[j].next_in_merge) {
          if (sharing_[j]) pending_[j] = sharing_[j] = 0;
        }
      } else {
        sharing_[i] = 0;
        pending_[i] = 0;
        if (!hsScan(slot.db[level], text)) return 0;
        for (const Hit& hit : hits_) slot_hits_.push_back({static_cast<std::uint32_t>(i), hit});
      }
    }
    std::sort(slot_hits_.begin(), slot_hits_.end(), [](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first < b.first;
      return a.second.to != b.second.to ? a.second.to < b.second.to : a.second.id < b.second.id;
    });
    auto first = static_cast<std::uint32_t>(hit_offsets_.size());
    auto base = static_cast<std::uint32_t>(hit_list_.size());
    size_t h = 0;
    for (size_t s = 0; s <= n; ++s) {
      hit_offsets_.push_back(static_cast<std::uint32_t>(hit_list_.size()));
      while (h < slot_hits_.size() && slot_hits_[h].first == s) hit_list_.push_back(slot_hits_[h++].second);
    }
    if (memo) {
      memo->generation = set_.generation();
      memo->key = key;
      memo->level = level_;
      memo->kind = kind;
      memo->value.assign(bytes);
      memo->offsets.resize(hit_offsets_.size() - first);
      for (size_t s = first; s < hit_offsets_.size(); ++s) {
        memo->offsets[s - first] = hit_offsets_[s] - base;
      }
      memo->hits.assign(hit_list_.begin() + base, hit_list_.end());
    }
    return first;
  }

  // hs_scan of `data` with `db` into hits_; false (and the request marked
  // not fully inspected) when Hyperscan fails.
  bool hsScan(const hs_database_t* db, std::string_view data) {
    hits_.clear();
    auto length = static_cast<unsigned int>(std::min<size_t>(data.size(), UINT_MAX));
    hs_error_t rc = hs_scan(db, data.empty() ? "" : data.data(), length, 0, tls_scratch.scratch,
                            &Inspection::onMatch, &hits_);
    if (rc != HS_SUCCESS) {
      result_.budget_exhausted = true;
      return false;
    }
    return true;
  }

  // Hits by end offset, then expression id: one order whether they came
  // from a group's own database or from a merged one, so a rule's first
  // hit (and so its fragment) does not depend on the path taken.
  static void sortHits(std::vector<Hit>& hits) {
    std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
      return a.to != b.to ? a.to < b.to : a.id < b.id;
    });
  }

  // Runs the PCRE2 twins of expressions `ids` on `data` (expressions
  // Hyperscan cannot take, or UTF-8 ones on a value that is not UTF-8).
  void runPcre(const std::vector<std::uint32_t>& ids, const Group& g, const Value& v,
               std::string_view data) {
    for (std::uint32_t id : ids) {
      const Expression& e = g.expressions[id];
      if (!active_[e.rule] || matched_[e.rule] || !applies(e.rule, v)) continue;
      size_t start = 0;
      size_t end = 0;
      Found found = find(e.regex, data, &start, &end);
      if (found == Found::Error) ++result_.regex_errors;
      if (found == Found::Yes) detect(e.rule, v, data, start, end);
    }
  }

  void handleHit(const Group& g, const Hit& hit, std::uint32_t index, std::string_view data) {
    if (hit.id >= g.expressions.size()) return;
    const Expression& e = g.expressions[hit.id];
    std::uint32_t r = e.rule;
    const Value& v = views_.values()[index];
    if (!active_[r] || matched_[r] || !applies(r, v)) return;
    size_t to = std::min<size_t>(static_cast<size_t>(hit.to), data.size());
    size_t start = 0;
    size_t end = to;
    if (e.regex < 0) {
      // A phrase: find the literal that ends at or before `to`.
      const Operator& op = rules_[r].op;
      size_t pos = std::string_view::npos;
      for (size_t p = findText(data, e.phrase, op.caseless); p != std::string_view::npos && p + e.phrase.size() <= to;
           p = findText(data, e.phrase, op.caseless, p + 1)) {
        pos = p;
      }
      if (pos != std::string_view::npos) {
        start = pos;
        end = pos + e.phrase.size();
      } else {
        start = to > kMaxFragmentBytes ? to - kMaxFragmentBytes : 0;
      }
      detect(r, v, data, start, end);
      return;
    }
    Found found = find(e.regex, data, &start, &end);
    if (found == Found::Error) ++result_.regex_errors;
    if (e.mode == MatchMode::HyperscanPrefilter) {
      if (found != Found::Yes) return;  // the prefilter over-approximates: PCRE2 decides
    } else if (found != Found::Yes) {
      // Hyperscan is authoritative here; PCRE2 only finds the fragment, and
      // where their dialects differ we show the bytes before the match end.
      start = to > kMaxFragmentBytes ? to - kMaxFragmentBytes : 0;
      end = to;
    }
    detect(r, v, data, start, end);
  }

  const RuleSet& set_;
  const Compiled& compiled_;
  const std::vector<Rule>& rules_;
  const InspectOptions& options_;
  BufferLease lease_;
  InspectionBuffers& buffers_;
  Views views_;
  int level_;
  std::vector<std::uint8_t>& active_;
  std::vector<std::uint8_t>& matched_;
  std::string exclusion_path_;
  TransformCache cache_;
  std::vector<Hit>& hits_;
  // Hits of whole values (scanValue): for value v scanned at once,
  // value_first_[v] indexes hit_offsets_, where the hits of the group in
  // slot s of Compiled::kind_groups[v's kind] are
  // hit_list_[hit_offsets_[first + s], hit_offsets_[first + s + 1]).
  static constexpr std::uint32_t kNotScanned = UINT32_MAX;
  static constexpr std::uint32_t kScanPerPass = UINT32_MAX - 1;
  static constexpr std::uint32_t kNoSlot = UINT32_MAX;
  std::vector<std::uint32_t>& value_first_;
  // Per value, transformsThatMayChange() of its bytes; 0 until computed.
  std::vector<std::uint32_t>& may_change_;
  // Longer values go straight to the cache: one more pass over a large
  // value costs more than the few trie lookups it could save.
  static constexpr size_t kMaskMaxBytes = 1024;
  std::vector<std::uint32_t>& hit_offsets_;
  std::vector<Hit>& hit_list_;
  // scanValue's working space.
  std::vector<std::string_view>& texts_;
  std::vector<std::uint8_t>& pending_;
  std::vector<std::uint8_t>& sharing_;
  std::vector<std::pair<std::uint32_t, Hit>>& slot_hits_;
  InspectResult result_;
  bool timed_ = false;
  std::chrono::steady_clock::time_point deadline_{};
  unsigned checks_ = 0;
};

}  // namespace

bool isSensitiveName(std::string_view name) {
  static constexpr std::string_view kWords[] = {"password", "passwd",   "pwd",     "token",
                                                "secret",   "authorization", "cookie",
                                                "apikey",   "api_key",  "api-key"};
  for (auto word : kWords) {
    if (findText(name, word, /*caseless=*/true) != std::string_view::npos) return true;
  }
  return false;
}

InspectResult inspect(const RuleSet& rules, const http::Request& request,
                      const http::ParsedBody& body, const InspectOptions& options,
                      const ConnectionFacts& connection) {
  Inspection inspection(rules, request, body, options, connection);
  return inspection.run();
}

}  // namespace mamori::inspect
