#-------------------------------------------------------------------------
#
# ports.sh
#	  Shell functions shared by test/run.sh and bench/run.sh (sourced, not
#	  run): free TCP ports for the throwaway clusters.
#
#-------------------------------------------------------------------------

# Set FREE_PORT to a TCP port nobody listens on, different from the ones
# chosen before (call it in the main shell, not in $(...)).
USED_PORTS=" "
FREE_PORT=
free_port()
{
	local port

	for _ in $(seq 1 50); do
		port=$(perl -MIO::Socket::INET -e '
			my $s = IO::Socket::INET->new(Listen => 1, ReuseAddr => 0,
				LocalAddr => "127.0.0.1", LocalPort => 0) or die "$!\n";
			print $s->sockport, "\n";') || continue
		case $USED_PORTS in
			*" $port "*) continue ;;
		esac
		USED_PORTS="$USED_PORTS$port "
		FREE_PORT=$port
		return 0
	done
	return 1
}
