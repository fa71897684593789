//! Encoding of hold episodes, the LSTM, training and evaluation (not yet built; see issue 4).
