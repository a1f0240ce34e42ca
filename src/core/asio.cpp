// The one translation unit that compiles Boost.Asio (BOOST_ASIO_SEPARATE_COMPILATION),
// so the rest of the build includes only its declarations.
#include <boost/asio/impl/src.hpp>
