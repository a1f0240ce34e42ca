// The one translation unit that compiles Boost.Asio's SSL layer (BOOST_ASIO_SEPARATE_COMPILATION,
// as src/core/asio.cpp does for the rest of Asio), so every other file includes only its
// declarations.
#include <boost/asio/ssl/impl/src.hpp>
