; A boot disk that calls BIOS services and reports what they return on the
; debug console (port 0xE9), one line per check: a name, then values in
; hexadecimal. The test (emulator/tests/oxbios_boot.rs) compares them with
; what the command line implies (RAM size, disk sizes). Sector 0 loads the
; rest (sectors 1-7) through INT 13h AH=02h; the run ends through port
; 0xF4 with 0x11.
;
; Drive 80h is expected to hold this image, drive 81h a disk whose last
; sector begins with the text "LAST".

bits 16
cpu 386
org 0x7C00

%include "boot_start.inc"

start:
    BOOT_START
    sti
    mov [boot_drive], dl
    mov ax, 0x0207              ; 7 sectors
    mov cx, 0x0002
    xor dh, dh
    mov bx, 0x7E00
    int 0x13
    jc load_failed
    jmp main

load_failed:
    mov al, 'X'
    out 0xE9, al
    mov al, 0x7F
    out 0xF4, al
    cli
    hlt

boot_drive: db 0

    times 510 - ($ - $$) db 0
    dw 0xAA55

; ---------------------------------------------------------------------------
main:
    ; boot: DL at entry
    mov si, s_boot
    call report_str
    movzx eax, byte [boot_drive]
    call report_hex
    call report_nl

    ; INT 12h: base memory KiB
    mov si, s_int12
    call report_str
    int 0x12
    movzx eax, ax
    call report_hex
    call report_nl

    ; INT 11h: equipment word
    mov si, s_int11
    call report_str
    int 0x11
    movzx eax, ax
    call report_hex
    call report_nl

    ; INT 15h AH=88h, E801h
    mov si, s_int15_88
    call report_str
    mov ah, 0x88
    clc
    int 0x15
    pushf
    movzx eax, ax
    call report_hex
    popf
    call report_carry
    call report_nl
    mov si, s_e801
    call report_str
    mov ax, 0xE801
    int 0x15
    push bx
    movzx eax, ax
    call report_hex
    pop ax
    movzx eax, ax
    call report_hex
    call report_nl

    ; INT 15h E820: every entry "base length type".
    xor ebx, ebx
.e820:
    mov eax, 0xE820
    mov edx, 0x534D4150
    mov ecx, 24
    mov di, e820_buf
    int 0x15
    jc .e820_done
    cmp eax, 0x534D4150
    jne .e820_done
    push ebx
    mov si, s_e820
    call report_str
    mov eax, [e820_buf + 4]
    call report_hex
    mov eax, [e820_buf]
    call report_hex
    mov eax, [e820_buf + 12]
    call report_hex
    mov eax, [e820_buf + 8]
    call report_hex
    mov eax, [e820_buf + 16]
    call report_hex
    call report_nl
    pop ebx
    test ebx, ebx
    jnz .e820
.e820_done:

    ; INT 13h AH=08h on 80h and 81h: CX DX CF
    mov dl, 0x80
    call disk_params
    mov dl, 0x81
    call disk_params

    ; The fixed disk parameter tables INT 41h and 46h point to:
    ; cylinders, heads, sectors per track of each.
    mov bx, 0x41 * 4
    call report_fdpt
    mov bx, 0x46 * 4
    call report_fdpt

    ; INT 13h AH=41h on 80h: BX AH CX CF
    mov si, s_ext
    call report_str
    mov ah, 0x41
    mov bx, 0x55AA
    mov dl, 0x80
    int 0x13
    pushf
    push cx
    push ax
    movzx eax, bx
    call report_hex
    pop ax
    movzx eax, ah
    call report_hex
    pop cx
    movzx eax, cx
    call report_hex
    popf
    call report_carry
    call report_nl

    ; INT 13h AH=48h on 80h and 81h: buffer size, sectors (hi lo), bytes
    ; per sector, CF
    mov dl, 0x80
    call edd_params
    mov dl, 0x81
    call edd_params

    ; INT 13h AH=42h: the last sector of drive 81h (an LBA beyond CHS and,
    ; for a disk over 128 GiB, beyond 28 bits).
    mov si, s_last
    call report_str
    mov eax, [edd_buf + 16]
    mov edx, [edd_buf + 20]
    sub eax, 1
    sbb edx, 0
    mov [dap + 8], eax
    mov [dap + 12], edx
    mov ah, 0x42
    mov dl, 0x81
    mov si, dap
    int 0x13
    pushf
    mov eax, [0x8800]
    call report_hex
    popf
    call report_carry
    call report_nl

    ; Unsupported services: AH and CF.
    mov si, s_unsup15
    call report_str
    mov ah, 0xEF
    clc
    int 0x15
    call ah_cf
    mov si, s_unsup1a
    call report_str
    mov ah, 0x77
    clc
    int 0x1A
    call ah_cf
    mov si, s_unsup16
    call report_str
    mov ah, 0x77
    clc
    int 0x16
    call ah_cf
    mov si, s_unsup13
    call report_str
    mov ah, 0x77
    mov dl, 0x80
    clc
    int 0x13
    call ah_cf

    ; INT 1Ah AH=00h twice, 10 timer interrupts apart (HLT waits for one).
    mov si, s_ticks
    call report_str
    call report_ticks
    mov cx, 10
.wait:
    sti
    hlt
    loop .wait
    call report_ticks
    call report_nl

    ; INT 1Ah AH=04h: the RTC date (BCD): CX DX
    mov si, s_date
    call report_str
    mov ah, 0x04
    int 0x1A
    push dx
    movzx eax, cx
    call report_hex
    pop dx
    movzx eax, dx
    call report_hex
    call report_nl

    ; PCI BIOS: B101h (EDX 'PCI ', BX version) and B102h for the PIIX3
    ; IDE function 8086:7010 (BX = its bus/device/function).
    mov si, s_pci
    call report_str
    mov ax, 0xB101
    xor edx, edx
    int 0x1A
    push bx
    mov eax, edx
    call report_hex
    pop ax
    movzx eax, ax
    call report_hex
    mov ax, 0xB102
    mov cx, 0x7010
    mov dx, 0x8086
    xor si, si
    int 0x1A
    movzx eax, bx
    call report_hex
    call report_nl

    ; A20: AX=2402h after 2401h, after 2400h: AL and CF each.
    mov si, s_a20
    call report_str
    mov ax, 0x2401
    call a20_then_status
    mov ax, 0x2400
    call a20_then_status
    call report_nl

    ; AH=87h: 16 bytes of the boot sector to 2 MiB and back to 0000:9000:
    ; CF twice, then 1 if the copy matches.
    mov si, s_move
    call report_str
    mov eax, 0x007C00
    mov edx, 0x200000
    call block_move
    mov eax, 0x200000
    mov edx, 0x009000
    call block_move
    mov si, 0x7C00
    mov di, 0x9000
    mov cx, 16
    repe cmpsb
    sete al
    movzx eax, al
    call report_hex
    call report_nl

    ; AH=C1h: ES = the EBDA segment.
    mov si, s_ebda
    call report_str
    push es
    mov ah, 0xC1
    int 0x15
    mov ax, es
    pop es
    movzx eax, ax
    call report_hex
    call report_nl

    ; AH=86h: wait 220 ms; the tick count before and after.
    mov si, s_wait
    call report_str
    call report_ticks
    mov cx, 0x0003
    mov dx, 0x5B60              ; 220000 us
    mov ah, 0x86
    int 0x15
    pushf
    call report_ticks
    popf
    call report_carry
    call report_nl

    mov si, s_done
    call report_str
    call report_nl
    mov al, 0x11
    out 0xF4, al
    cli
    hlt

; INT 15h AX (2400h/2401h), then AX=2402h: prints AL and CF.
a20_then_status:
    int 0x15
    mov ax, 0x2402
    int 0x15
    pushf
    movzx eax, al
    call report_hex
    popf
    call report_carry
    ret

; Print the tick count (INT 1Ah AH=00h CX:DX).
report_ticks:
    push cx
    push dx
    xor ah, ah
    int 0x1A
    mov ax, cx
    shl eax, 16
    mov ax, dx
    call report_hex
    pop dx
    pop cx
    ret

; INT 15h AH=87h: 16 bytes from linear EAX to linear EDX (below 16 MiB);
; prints CF.
block_move:
    mov [gdt + 0x10 + 2], ax
    shr eax, 16
    mov [gdt + 0x10 + 4], al
    mov [gdt + 0x18 + 2], dx
    shr edx, 16
    mov [gdt + 0x18 + 4], dl
    mov cx, 8
    mov si, gdt
    mov ah, 0x87
    int 0x15
    call report_carry
    ret

; Print "fdpt" and the table the far pointer at 0000:BX points to.
report_fdpt:
    mov si, s_fdpt
    call report_str
    push ds
    lds si, [bx]
    movzx eax, word [si]
    call report_hex
    movzx eax, byte [si + 2]
    call report_hex
    movzx eax, byte [si + 0x0E]
    call report_hex
    pop ds
    call report_nl
    ret

; INT 13h AH=08h on drive DL.
disk_params:
    mov si, s_params
    call report_str
    movzx eax, dl
    call report_hex
    mov ah, 0x08
    xor di, di
    int 0x13
    pushf
    push dx
    movzx eax, cx
    call report_hex
    pop dx
    movzx eax, dx
    call report_hex
    popf
    call report_carry
    call report_nl
    ret

; INT 13h AH=48h on drive DL into edd_buf.
edd_params:
    mov si, s_edd
    call report_str
    movzx eax, dl
    call report_hex
    mov word [edd_buf], 0x1E
    mov ah, 0x48
    mov si, edd_buf
    int 0x13
    pushf
    movzx eax, word [edd_buf]
    call report_hex
    mov eax, [edd_buf + 20]
    call report_hex
    mov eax, [edd_buf + 16]
    call report_hex
    movzx eax, word [edd_buf + 24]
    call report_hex
    popf
    call report_carry
    call report_nl
    ret

; Print AH and CF.
ah_cf:
    pushf
    movzx eax, ah
    call report_hex
    popf
    call report_carry
    call report_nl
    ret

%include "bios_report.inc"

s_boot:    db "boot", 0
s_int12:   db "int12", 0
s_int11:   db "int11", 0
s_int15_88: db "int15_88", 0
s_e801:    db "e801", 0
s_e820:    db "e820", 0
s_params:  db "params", 0
s_ext:     db "ext", 0
s_edd:     db "edd", 0
s_last:    db "last", 0
s_unsup15: db "unsupported15", 0
s_unsup1a: db "unsupported1a", 0
s_unsup16: db "unsupported16", 0
s_unsup13: db "unsupported13", 0
s_ticks:   db "ticks", 0
s_date:    db "date", 0
s_pci:     db "pci", 0
s_done:    db "done", 0
s_fdpt:    db "fdpt", 0
s_a20:     db "a20", 0
s_move:    db "move", 0
s_ebda:    db "ebda", 0
s_wait:    db "wait", 0

; INT 15h AH=87h descriptor table: 6 descriptors, source and destination
; 64 KiB data segments (access 93h).
gdt:
    dq 0, 0
    dw 0xFFFF, 0, 0x9300, 0
    dw 0xFFFF, 0, 0x9300, 0
    dq 0, 0

align 4
dap:
    db 0x10, 0
    dw 1                        ; blocks
    dw 0x8800, 0                ; buffer 0000:8800
    dd 0, 0                     ; LBA
e820_buf: times 24 db 0
edd_buf:  times 0x1E db 0

    times 8 * 512 - ($ - $$) db 0
