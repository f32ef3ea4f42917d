//! m2mspec engine
