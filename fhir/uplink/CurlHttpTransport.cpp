#include "fhir/uplink/CurlHttpTransport.h"

#include <curl/curl.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace rpm::fhir {
namespace {

std::once_flag gCurlInit;

size_t appendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Failures that happen before any byte of the request leaves the host.
bool failsBeforeSending(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return true;
    default:
      return false;
  }
}

ErrorKind kindOf(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT: return ErrorKind::kTimeout;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
      return ErrorKind::kRejected;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return ErrorKind::kInvalidArgument;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
      return ErrorKind::kUnavailable;
    default:
      return ErrorKind::kIo;
  }
}

// The request body, read by libcurl through a callback so that it cannot be
// sent twice: libcurl silently resends a request whose reused connection died
// before any response byte, which would duplicate a POST the server already
// committed (seen with the test server's drop-after-commit fault). Rewinding
// is allowed only before anything was read; a resend attempt then fails with
// CURLE_SEND_FAIL_REWIND and is reported as an uncertain outcome, which the
// uplink resolves by searching the identifiers.
struct BodySource {
  const std::string* body;
  size_t offset = 0;
};

size_t readBody(char* buffer, size_t size, size_t count, void* user) {
  auto* src = static_cast<BodySource*>(user);
  size_t n = std::min(size * count, src->body->size() - src->offset);
  std::memcpy(buffer, src->body->data() + src->offset, n);
  src->offset += n;
  return n;
}

int seekBody(void* user, curl_off_t offset, int origin) {
  auto* src = static_cast<BodySource*>(user);
  if (origin == SEEK_SET && offset == 0 && src->offset == 0) return CURL_SEEKFUNC_OK;
  return CURL_SEEKFUNC_FAIL;
}

// Keeps the Location header of the final response.
size_t readHeader(char* data, size_t size, size_t count, void* user) {
  std::string line(data, size * count);
  auto* location = static_cast<std::string*>(user);
  if (line.rfind("HTTP/", 0) == 0) location->clear();  // a new response (after 100-continue, say)
  if (line.size() > 9 && (line.compare(0, 9, "Location:") == 0 || line.compare(0, 9, "location:") == 0)) {
    std::string value = line.substr(9);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
    *location = value;
  }
  return size * count;
}

}  // namespace

std::optional<std::string> gzipCompress(const std::string& data) {
  z_stream zs{};
  // windowBits 15 + 16 selects the gzip wrapper.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return std::nullopt;
  std::string out;
  out.resize(deflateBound(&zs, data.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  out.resize(zs.total_out);
  return out;
}

CurlHttpTransport::CurlHttpTransport(CurlTransportOptions options) : options_(std::move(options)) {
  std::call_once(gCurlInit, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

CurlHttpTransport::~CurlHttpTransport() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

HttpOutcome CurlHttpTransport::send(const HttpRequest& request) {
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) return TransportError{DeliveryCertainty::kNotSent, ErrorKind::kInternal, "libcurl handle unavailable"};
  curl_easy_reset(c);  // keeps the connection cache: keep-alive survives reset
  std::string responseBody;
  std::string location;
  std::string body = request.body;
  struct curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) headers = curl_slist_append(headers, (name + ": " + value).c_str());
  if (request.gzipBody && !body.empty()) {
    auto gz = gzipCompress(body);
    if (!gz) return TransportError{DeliveryCertainty::kNotSent, ErrorKind::kInternal, "gzip compression failed"};
    body = std::move(*gz);
    headers = curl_slist_append(headers, "Content-Encoding: gzip");
  }
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  BodySource source{&body, 0};
  if (request.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &readBody);
    curl_easy_setopt(c, CURLOPT_READDATA, &source);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, &seekBody);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &source);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &appendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &responseBody);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &readHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &location);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl can decode (gzip, br, zstd)
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, options_.connectTimeoutMs);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options_.requestTimeoutMs);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.userAgent.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  // TLS: verification is always on; there is no switch to disable it.
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!options_.caFile.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.caFile.c_str());
  if (!options_.clientCertFile.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, options_.clientCertFile.c_str());
  if (!options_.clientKeyFile.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, options_.clientKeyFile.c_str());

  CURLcode code = curl_easy_perform(c);
  curl_slist_free_all(headers);
  long newConnections = 0;
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &newConnections);
  connectionsOpened_ += newConnections;
  if (code != CURLE_OK) {
    long requestBytes = 0;
    curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &requestBytes);
    DeliveryCertainty certainty =
        (failsBeforeSending(code) || requestBytes == 0) ? DeliveryCertainty::kNotSent : DeliveryCertainty::kUncertain;
    return TransportError{certainty, kindOf(code), curl_easy_strerror(code)};
  }
  HttpResponse response;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  char* contentType = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &contentType) == CURLE_OK && contentType) {
    response.contentType = contentType;
  }
  curl_off_t retryAfter = 0;
  // libcurl before 8.12 can return a negative value for a past HTTP date: clamp.
  if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retryAfter) == CURLE_OK && retryAfter != 0) {
    response.retryAfter = std::chrono::seconds(retryAfter < 0 ? 0 : retryAfter);
  }
  response.body = std::move(responseBody);
  response.location = std::move(location);
  return response;
}

}  // namespace rpm::fhir
